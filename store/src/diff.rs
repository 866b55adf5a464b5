//! Comparing two stored trees entry by entry: the file half of `imgbuild diff A B`.
//!
//! [`Store::diff_trees`] walks both trees' directory objects side by side and reports
//! every entry that was added, removed or changed. Trees are Merkle directories, so an
//! entry naming the same child directory digest on both sides names equal subtrees: that
//! subtree is skipped without reading it. Two images that share most of their content
//! are therefore compared by reading only the directories on the paths to what differs;
//! no whole tree is ever loaded, one directory object is read at a time.
//!
//! The rules of the report:
//!
//! - Order: paths in tree order, names compared by their raw bytes and a directory
//!   before its contents (the order of [`crate::Tree::walk`]). The root is `/`.
//! - An added or removed directory is reported, then every entry below it, each as
//!   added or removed.
//! - An entry present on both sides is [`Change::Changed`] when any field of its
//!   [`EntrySummary`] differs; `fields` names them, in the order `kind`, `mode`,
//!   `owner`, `size`, `content`, `mtime`, `xattrs`. A changed mtime alone is reported
//!   (with `fields == ["mtime"]`); a caller that does not care filters it.
//! - A directory's summary has no content: a change below it is reported at the path
//!   of what changed, not at every parent. A changed kind (a file replaced by a
//!   directory, or the reverse) is one `Changed` entry with `kind` among its fields,
//!   followed by the directory's contents as added (or removed).
//! - A hardlink's summary is its own encoded entry (its target path as content); when
//!   the file it points to changes, that file is reported, not every link to it.
//! - Paths and symlink targets are bytes; they are rendered with [`escape_bytes`]:
//!   valid UTF-8 is kept, `\` becomes `\\`, and control characters and bytes that are
//!   not UTF-8 become `\xNN`, so nothing is lost and the rendering is unambiguous.

use std::fmt::Write as _;
use std::iter::Peekable;
use std::vec::IntoIter;

use crate::digest::Digest;
use crate::error::{ObjectKind, StoreError};
use crate::tree::{EntryKind, Metadata, Name};
use crate::tree_encoding::DecodedKind;
use crate::tree_store::read_directory;
use crate::Store;

/// Deeper trees than this are treated as corrupt (as when loading a tree).
const MAX_TREE_DEPTH: usize = 4096;

/// What the report says about one entry on one side.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntrySummary {
    /// `file`, `directory`, `symlink`, `hardlink`, `char-device`, `block-device` or `fifo`.
    pub kind: &'static str,
    /// The 12 permission bits (0o7777 at most).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// A regular file's size in bytes (`None` for every other kind).
    pub size: Option<u64>,
    /// A file's blob digest (64 hex characters), a symlink's target (escaped), a
    /// hardlink's target path (`/a/b`, escaped), a device's `major:minor`; `None` for
    /// directories and fifos.
    pub content: Option<String>,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// How many extended attributes the entry has.
    pub xattrs: usize,
    /// BLAKE3 (hex) of the extended attributes' names and values (each length-prefixed,
    /// in name order), `None` without any: what `xattrs` in a change's fields compares.
    pub xattrs_digest: Option<String>,
}

/// How one path differs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Change {
    /// Only in the second tree.
    Added(EntrySummary),
    /// Only in the first tree.
    Removed(EntrySummary),
    /// In both, with different summaries.
    Changed {
        /// The entry in the first tree.
        before: EntrySummary,
        /// The entry in the second tree.
        after: EntrySummary,
        /// What differs: `kind`, `mode`, `owner`, `size`, `content`, `mtime`, `xattrs`.
        fields: Vec<&'static str>,
    },
}

/// One difference between two trees.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TreeChange {
    /// The absolute path inside the trees (`/etc/hostname`; `/` for the root), escaped
    /// with [`escape_bytes`].
    pub path: String,
    /// How it differs.
    #[serde(flatten)]
    pub change: Change,
}

/// What a comparison had to look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiffStatistics {
    /// Pairs of directories whose objects were read and compared entry by entry.
    pub compared_directories: u64,
    /// Directories with the same digest on both sides, skipped without reading them
    /// (the whole trees count as one when their roots are equal).
    pub skipped_subtrees: u64,
    /// Names compared in the compared directories.
    pub entries_compared: u64,
    /// Directories read on one side only, to list an added or removed subtree.
    pub listed_directories: u64,
}

impl Store {
    /// Calls `visit` for every difference between the trees `before` and `after`, in
    /// path order (names in byte order, a directory before its contents).
    ///
    /// An added or removed directory is reported, then every entry below it (reported
    /// as added or removed too). Subtrees with equal digests are skipped unread. Fails
    /// when a directory object that must be read is missing or corrupt.
    pub fn diff_trees(
        &self,
        before: &Digest,
        after: &Digest,
        visit: &mut dyn FnMut(TreeChange),
    ) -> Result<DiffStatistics, StoreError> {
        let mut statistics = DiffStatistics::default();
        if before == after {
            statistics.skipped_subtrees = 1;
            return Ok(statistics);
        }
        let before_root = read_directory(&self.layout, before)?;
        let after_root = read_directory(&self.layout, after)?;
        statistics.compared_directories += 1;
        let root_before = summary(&DecodedKind::Directory(*before), &before_root.meta);
        let root_after = summary(&DecodedKind::Directory(*after), &after_root.meta);
        report_pair(visit, b"", root_before, root_after);
        let mut stack = vec![Frame::Compare {
            path: Vec::new(),
            before: Box::new(before_root.entries.into_iter().peekable()),
            after: Box::new(after_root.entries.into_iter().peekable()),
        }];
        while let Some(frame) = stack.last_mut() {
            let Some(step) = frame.next_step() else {
                stack.pop();
                continue;
            };
            if let Some(frame) = self.take_step(step, &mut statistics, visit)? {
                if stack.len() >= MAX_TREE_DEPTH {
                    return Err(StoreError::ObjectCorrupt {
                        kind: ObjectKind::Tree,
                        digest: *after,
                        path: std::path::PathBuf::from("(too deep)"),
                    });
                }
                stack.push(frame);
            }
        }
        Ok(statistics)
    }

    /// Reports one step and returns the frame to descend into, if any.
    fn take_step(
        &self,
        step: Step,
        statistics: &mut DiffStatistics,
        visit: &mut dyn FnMut(TreeChange),
    ) -> Result<Option<Frame>, StoreError> {
        match step {
            Step::Listed { path, side, entry } => {
                let (kind, meta) = entry;
                visit(TreeChange {
                    path: render_path(&path),
                    change: side.change(summary(&kind, &meta)),
                });
                self.list_below(path, side, &kind, statistics)
            }
            Step::Compared {
                path,
                before,
                after,
            } => {
                statistics.entries_compared += 1;
                match (before, after) {
                    (Some((kind, meta)), None) => {
                        visit(TreeChange {
                            path: render_path(&path),
                            change: Change::Removed(summary(&kind, &meta)),
                        });
                        self.list_below(path, Side::Removed, &kind, statistics)
                    }
                    (None, Some((kind, meta))) => {
                        visit(TreeChange {
                            path: render_path(&path),
                            change: Change::Added(summary(&kind, &meta)),
                        });
                        self.list_below(path, Side::Added, &kind, statistics)
                    }
                    (Some((before_kind, before_meta)), Some((after_kind, after_meta))) => {
                        let before_summary = summary(&before_kind, &before_meta);
                        let after_summary = summary(&after_kind, &after_meta);
                        report_pair(visit, &path, before_summary, after_summary);
                        match (&before_kind, &after_kind) {
                            (DecodedKind::Directory(old), DecodedKind::Directory(new)) => {
                                if old == new {
                                    statistics.skipped_subtrees += 1;
                                    return Ok(None);
                                }
                                let old_directory = read_directory(&self.layout, old)?;
                                let new_directory = read_directory(&self.layout, new)?;
                                statistics.compared_directories += 1;
                                Ok(Some(Frame::Compare {
                                    path,
                                    before: Box::new(old_directory.entries.into_iter().peekable()),
                                    after: Box::new(new_directory.entries.into_iter().peekable()),
                                }))
                            }
                            (DecodedKind::Directory(_), _) => {
                                self.list_below(path, Side::Removed, &before_kind, statistics)
                            }
                            _ => self.list_below(path, Side::Added, &after_kind, statistics),
                        }
                    }
                    (None, None) => Ok(None),
                }
            }
        }
    }

    /// The frame listing a directory's entries as added or removed; `None` for other kinds.
    fn list_below(
        &self,
        path: Vec<u8>,
        side: Side,
        kind: &DecodedKind,
        statistics: &mut DiffStatistics,
    ) -> Result<Option<Frame>, StoreError> {
        let DecodedKind::Directory(digest) = kind else {
            return Ok(None);
        };
        let directory = read_directory(&self.layout, digest)?;
        statistics.listed_directories += 1;
        Ok(Some(Frame::List {
            path,
            side,
            entries: directory.entries.into_iter(),
        }))
    }
}

/// An entry of a directory object without its name.
type Body = (DecodedKind, Metadata);

/// Which tree a listed subtree is in.
#[derive(Debug, Clone, Copy)]
enum Side {
    Added,
    Removed,
}

impl Side {
    fn change(self, summary: EntrySummary) -> Change {
        match self {
            Side::Added => Change::Added(summary),
            Side::Removed => Change::Removed(summary),
        }
    }
}

/// A directory being walked: compared with its counterpart, or listed on one side.
enum Frame {
    Compare {
        path: Vec<u8>,
        // Boxed: a peeked entry makes this variant far larger than `List`.
        before: Box<Peekable<IntoIter<(Name, DecodedKind, Metadata)>>>,
        after: Box<Peekable<IntoIter<(Name, DecodedKind, Metadata)>>>,
    },
    List {
        path: Vec<u8>,
        side: Side,
        entries: IntoIter<(Name, DecodedKind, Metadata)>,
    },
}

/// The next name of a frame, with what each side has under it.
enum Step {
    Compared {
        path: Vec<u8>,
        before: Option<Body>,
        after: Option<Body>,
    },
    Listed {
        path: Vec<u8>,
        side: Side,
        entry: Body,
    },
}

impl Frame {
    fn next_step(&mut self) -> Option<Step> {
        match self {
            Frame::List {
                path,
                side,
                entries,
            } => {
                let (name, kind, meta) = entries.next()?;
                Some(Step::Listed {
                    path: child_path(path, &name),
                    side: *side,
                    entry: (kind, meta),
                })
            }
            Frame::Compare {
                path,
                before,
                after,
            } => {
                let order = match (before.peek(), after.peek()) {
                    (None, None) => return None,
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (Some((old, _, _)), Some((new, _, _))) => old.cmp(new),
                };
                let take = |entries: &mut Peekable<IntoIter<(Name, DecodedKind, Metadata)>>| {
                    entries
                        .next()
                        .map(|(name, kind, meta)| (name, (kind, meta)))
                };
                let (name, before, after) = match order {
                    std::cmp::Ordering::Less => {
                        let (name, body) = take(before)?;
                        (name, Some(body), None)
                    }
                    std::cmp::Ordering::Greater => {
                        let (name, body) = take(after)?;
                        (name, None, Some(body))
                    }
                    std::cmp::Ordering::Equal => {
                        let (name, old) = take(before)?;
                        let (_, new) = take(after)?;
                        (name, Some(old), Some(new))
                    }
                };
                Some(Step::Compared {
                    path: child_path(path, &name),
                    before,
                    after,
                })
            }
        }
    }
}

fn child_path(parent: &[u8], name: &Name) -> Vec<u8> {
    let mut path = Vec::with_capacity(parent.len() + 1 + name.as_bytes().len());
    path.extend_from_slice(parent);
    path.push(b'/');
    path.extend_from_slice(name.as_bytes());
    path
}

/// `/` for the root, else the raw path (which starts with `/`), escaped.
fn render_path(path: &[u8]) -> String {
    if path.is_empty() {
        "/".to_owned()
    } else {
        escape_bytes(path)
    }
}

/// Reports `before` → `after` at `path` when their summaries differ.
fn report_pair(
    visit: &mut dyn FnMut(TreeChange),
    path: &[u8],
    before: EntrySummary,
    after: EntrySummary,
) {
    let fields = changed_fields(&before, &after);
    if !fields.is_empty() {
        visit(TreeChange {
            path: render_path(path),
            change: Change::Changed {
                before,
                after,
                fields,
            },
        });
    }
}

/// The names of the fields that differ, in report order.
pub fn changed_fields(before: &EntrySummary, after: &EntrySummary) -> Vec<&'static str> {
    let checks = [
        ("kind", before.kind != after.kind),
        ("mode", before.mode != after.mode),
        ("owner", (before.uid, before.gid) != (after.uid, after.gid)),
        ("size", before.size != after.size),
        ("content", before.content != after.content),
        ("mtime", before.mtime != after.mtime),
        ("xattrs", before.xattrs_digest != after.xattrs_digest),
    ];
    checks
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(field, _)| field)
        .collect()
}

fn summary(kind: &DecodedKind, meta: &Metadata) -> EntrySummary {
    let (kind, size, content) = match kind {
        DecodedKind::Directory(_) => ("directory", None, None),
        DecodedKind::Leaf(EntryKind::File { blob, size }) => {
            ("file", Some(*size), Some(blob.to_hex()))
        }
        DecodedKind::Leaf(EntryKind::Directory(_)) => ("directory", None, None),
        DecodedKind::Leaf(EntryKind::Symlink { target }) => {
            ("symlink", None, Some(escape_bytes(target)))
        }
        DecodedKind::Leaf(EntryKind::Hardlink { target }) => {
            let mut path = b"/".to_vec();
            path.extend_from_slice(&target.to_bytes());
            ("hardlink", None, Some(escape_bytes(&path)))
        }
        DecodedKind::Leaf(EntryKind::CharDevice { major, minor }) => {
            ("char-device", None, Some(format!("{major}:{minor}")))
        }
        DecodedKind::Leaf(EntryKind::BlockDevice { major, minor }) => {
            ("block-device", None, Some(format!("{major}:{minor}")))
        }
        DecodedKind::Leaf(EntryKind::Fifo) => ("fifo", None, None),
    };
    EntrySummary {
        kind,
        mode: meta.mode,
        uid: meta.uid,
        gid: meta.gid,
        size,
        content,
        mtime: meta.mtime,
        xattrs: meta.xattrs.len(),
        xattrs_digest: xattrs_digest(meta),
    }
}

fn xattrs_digest(meta: &Metadata) -> Option<String> {
    if meta.xattrs.is_empty() {
        return None;
    }
    let mut hasher = blake3::Hasher::new();
    for (name, value) in &meta.xattrs {
        for bytes in [name, value] {
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
    }
    Some(Digest::from(hasher.finalize()).to_hex())
}

/// Renders bytes (a path, a symlink target) as text without losing any: valid UTF-8 is
/// kept, `\` becomes `\\`, control characters and bytes that are not UTF-8 become
/// `\xNN` (one escape per byte).
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for character in chunk.valid().chars() {
            if character == '\\' {
                text.push_str("\\\\");
            } else if character.is_control() {
                let mut buffer = [0u8; 4];
                for byte in character.encode_utf8(&mut buffer).bytes() {
                    // Writing to a String cannot fail.
                    let _ = write!(text, "\\x{byte:02x}");
                }
            } else {
                text.push(character);
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(text, "\\x{byte:02x}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_every_byte() {
        let check = |input: &[u8], expected: &str| assert_eq!(escape_bytes(input), expected);
        check(b"/etc/hostname", "/etc/hostname");
        check("/caf\u{e9}".as_bytes(), "/caf\u{e9}");
        check(b"/a\xffb\xc3", "/a\\xffb\\xc3");
        check(b"/back\\slash", "/back\\\\slash");
        check(b"/new\nline\x7f", "/new\\x0aline\\x7f");
        check("\u{85}".as_bytes(), "\\xc2\\x85");
    }
}
