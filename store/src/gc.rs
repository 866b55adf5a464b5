//! `store gc`: delete everything no root reaches.
//!
//! Roots are the explicit roots (`roots/explicit/*`) and the result manifests
//! that `roots/auto/*` link to. Marking goes records → trees → blobs → chunks; then
//! the sweep deletes unmarked objects, output records whose object is gone or that
//! are not authentic, logs whose key has no live recipe-index entry, stale temporary
//! files, quarantined objects and build lock files nobody holds.
//!
//! Roots that cannot be used are told apart, and never stop GC with an error:
//!
//! * A **dead** root — an automatic root whose result manifest is gone (the user
//!   removed `result/`) — reaches nothing: its link is removed and reported
//!   ([`GcReport::dead_roots`]).
//! * A **bad** root — an unreadable or malformed explicit root or manifest, a root
//!   that is a directory or not a symlink, a name `add_root` would not give — might
//!   reach anything: we cannot know. GC then deletes **no** object, output record or
//!   log at all, and reports each such root with the command that removes it
//!   ([`GcReport::bad_roots`], [`GcReport::collected`] is false). The same holds when
//!   an object a live root reaches cannot be decoded (a corrupt tree or chunk
//!   manifest hides what it refers to; `store verify` quarantines it). Dead roots,
//!   stale temporaries, quarantined objects and unused lock files, which no root can
//!   reach, are still removed.
//!
//! GC holds the store-wide lock exclusively, so it waits for running builds
//! (which hold it shared, see [`Store::build_session`]) and they wait for it.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::blob::{decode_blob, read_object, BlobObject, ManifestEntry};
use crate::digest::Digest;
use crate::error::{is_not_found, IoResultExt, ObjectKind, StoreError};
use crate::layout::{
    list_fanned_out, remove_file_if_exists, remove_stale_temporaries, sorted_names,
};
use crate::output::{OutputIndex, OutputObject, OutputRecord};
use crate::record_file::{self, Decoded};
use crate::roots::{auto_roots, read_manifest};
use crate::tree::EntryKind;
use crate::tree_encoding::DecodedKind;
use crate::tree_store::read_directory;
use crate::Store;

/// How GC treats temporary files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    /// Temporary `.publish-*` files older than this are removed (younger ones may belong to a
    /// writer that does not hold a build session).
    pub tmp_max_age: Duration,
}

impl Default for GcOptions {
    fn default() -> GcOptions {
        GcOptions {
            tmp_max_age: Duration::from_secs(3600),
        }
    }
}

/// What GC removed and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blob objects removed.
    pub removed_blobs: u64,
    /// Chunk objects removed.
    pub removed_chunks: u64,
    /// Directory objects removed.
    pub removed_trees: u64,
    /// Output records removed (both indexes).
    pub removed_outputs: u64,
    /// Logs removed.
    pub removed_logs: u64,
    /// Dead automatic roots removed (see [`GcReport::dead_roots`]).
    pub removed_roots: u64,
    /// Stale temporary files, quarantined objects and unused lock files removed.
    pub removed_other: u64,
    /// Bytes freed (file sizes).
    pub freed_bytes: u64,
    /// Blob objects kept.
    pub kept_blobs: u64,
    /// Chunk objects kept.
    pub kept_chunks: u64,
    /// Directory objects kept.
    pub kept_trees: u64,
    /// Whether unreachable objects, records and logs were deleted: false when a bad root
    /// or an undecodable reachable object made it unsafe (nothing was then deleted).
    pub collected: bool,
    /// Dead automatic roots that were removed.
    pub dead_roots: Vec<DeadRoot>,
    /// Roots that could not be read (nothing was collected because of them).
    pub bad_roots: Vec<BadRoot>,
    /// Objects reached from a live root that could not be decoded, so what they refer to
    /// is unknown (nothing was collected because of them).
    pub undecodable_objects: Vec<(ObjectKind, Digest, PathBuf)>,
}

/// An automatic root whose result manifest is gone; GC removed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadRoot {
    /// The link under `roots/auto/`.
    pub path: PathBuf,
    /// The manifest it pointed to.
    pub target: PathBuf,
}

/// A root GC could not read: it might reach any object, so none was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRoot {
    /// The root file or link in the store.
    pub path: PathBuf,
    /// What an automatic root points to, when it is a symlink.
    pub target: Option<PathBuf>,
    /// What is wrong with it.
    pub problem: String,
    /// A shell command that removes it, for the user to run once sure it is not needed.
    pub remove_command: String,
}

#[derive(Default)]
struct Live {
    blobs: HashSet<Digest>,
    chunks: HashSet<Digest>,
    trees: HashSet<Digest>,
}

impl Store {
    /// Collects garbage with the default [`GcOptions`].
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        self.gc_with(&GcOptions::default())
    }

    /// Collects garbage.
    pub fn gc_with(&self, options: &GcOptions) -> Result<GcReport, StoreError> {
        let _guard = self.exclusive_session()?;
        let mut report = GcReport::default();
        let mut live = Live::default();
        for record in self.root_records(&mut report)? {
            match self.mark_record(&record, &mut live) {
                Ok(()) => {}
                Err(StoreError::ObjectCorrupt { kind, digest, path }) => {
                    report.undecodable_objects.push((kind, digest, path));
                }
                Err(error) => return Err(error),
            }
        }
        report.collected = report.bad_roots.is_empty() && report.undecodable_objects.is_empty();
        if report.collected {
            self.sweep_objects(&live, &mut report)?;
        } else {
            self.count_objects(&mut report)?;
        }
        self.sweep_other(options, &mut report)?;
        Ok(report)
    }

    /// Deletes every object, record and log that `live` does not hold.
    fn sweep_objects(&self, live: &Live, report: &mut GcReport) -> Result<(), StoreError> {
        let layout = &self.layout;
        let sweeps: [(&Path, &HashSet<Digest>, &mut u64, &mut u64); 3] = [
            (
                &layout.blobs(),
                &live.blobs,
                &mut report.removed_blobs,
                &mut report.kept_blobs,
            ),
            (
                &layout.chunks(),
                &live.chunks,
                &mut report.removed_chunks,
                &mut report.kept_chunks,
            ),
            (
                &layout.trees(),
                &live.trees,
                &mut report.removed_trees,
                &mut report.kept_trees,
            ),
        ];
        let mut freed = 0;
        for (directory, keep, removed, kept) in sweeps {
            for (digest, path) in list_fanned_out(directory, "")? {
                if keep.contains(&digest) {
                    *kept += 1;
                } else {
                    freed += remove_file_if_exists(&path)?;
                    *removed += 1;
                }
            }
            remove_empty_fan_out_directories(directory);
        }
        report.freed_bytes += freed;
        let live_recipes = self.sweep_outputs(report)?;
        for (key, path) in list_fanned_out(&layout.logs(), ".log")? {
            if !live_recipes.contains(&key) {
                report.freed_bytes += remove_file_if_exists(&path)?;
                report.removed_logs += 1;
            }
        }
        remove_empty_fan_out_directories(&layout.logs());
        Ok(())
    }

    /// Counts every object as kept (nothing is collected).
    fn count_objects(&self, report: &mut GcReport) -> Result<(), StoreError> {
        report.kept_blobs = list_fanned_out(&self.layout.blobs(), "")?.len() as u64;
        report.kept_chunks = list_fanned_out(&self.layout.chunks(), "")?.len() as u64;
        report.kept_trees = list_fanned_out(&self.layout.trees(), "")?.len() as u64;
        Ok(())
    }

    /// Every record held by a readable root; dead automatic roots are removed and bad
    /// roots reported on the way.
    fn root_records(&self, report: &mut GcReport) -> Result<Vec<OutputRecord>, StoreError> {
        let mut records = Vec::new();
        for (path, root) in self.explicit_roots()? {
            match root {
                Ok(root_records) => records.extend(root_records),
                Err(error) => report.bad_roots.push(bad_root(path, None, &error)),
            }
        }
        for (link, target) in auto_roots(self)? {
            let target = match target {
                Ok(target) => target,
                Err(error) => {
                    report.bad_roots.push(bad_root(link, None, &error));
                    continue;
                }
            };
            // Through the link, so that a relative target resolves as the link does.
            match read_manifest(&link) {
                Ok(entries) => records.extend(entries.into_iter().map(|(_, record)| record)),
                Err(error) if is_gone(&error) => {
                    remove_file_if_exists(&link)?;
                    report.removed_roots += 1;
                    report.dead_roots.push(DeadRoot { path: link, target });
                }
                Err(error) => report.bad_roots.push(bad_root(link, Some(target), &error)),
            }
        }
        Ok(records)
    }

    fn mark_record(&self, record: &OutputRecord, live: &mut Live) -> Result<(), StoreError> {
        match &record.object {
            OutputObject::File { blob, .. } => self.mark_blob(blob, live),
            OutputObject::Tree { tree } => self.mark_tree(tree, live),
        }
    }

    fn mark_blob(&self, digest: &Digest, live: &mut Live) -> Result<(), StoreError> {
        if !live.blobs.insert(*digest) {
            return Ok(());
        }
        let path = self.layout.blob(digest);
        let data = match read_object(&path, ObjectKind::Blob, digest) {
            Ok(data) => data,
            Err(error) if is_not_found(&error) => return Ok(()),
            Err(error) => return Err(error),
        };
        match decode_blob(&data) {
            Some(BlobObject::Single { .. }) => Ok(()),
            Some(BlobObject::Manifest { entries, .. }) => {
                for entry in entries {
                    if let ManifestEntry::Chunk { digest, .. } = entry {
                        live.chunks.insert(digest);
                    }
                }
                Ok(())
            }
            // Without the manifest we cannot know its chunks: refuse rather than
            // delete them. `store verify` quarantines the object.
            None => Err(StoreError::ObjectCorrupt {
                kind: ObjectKind::Blob,
                digest: *digest,
                path,
            }),
        }
    }

    fn mark_tree(&self, digest: &Digest, live: &mut Live) -> Result<(), StoreError> {
        if !live.trees.insert(*digest) {
            return Ok(());
        }
        let directory = match read_directory(&self.layout, digest) {
            Ok(directory) => directory,
            Err(error) if is_not_found(&error) => return Ok(()),
            Err(error) => return Err(error),
        };
        for (_, kind, _) in &directory.entries {
            match kind {
                DecodedKind::Directory(child) => self.mark_tree(child, live)?,
                DecodedKind::Leaf(EntryKind::File { blob, .. }) => self.mark_blob(blob, live)?,
                DecodedKind::Leaf(_) => {}
            }
        }
        Ok(())
    }

    /// Removes records whose object is gone; returns the live recipe-index keys.
    fn sweep_outputs(&self, report: &mut GcReport) -> Result<HashSet<Digest>, StoreError> {
        let mut live_recipes = HashSet::new();
        for index in OutputIndex::ALL {
            let directory = self.layout.outputs(index);
            for (key, path) in list_fanned_out(&directory, "")? {
                let bytes = match fs::read(&path) {
                    Ok(bytes) => bytes,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(error) => return Err(error).at("read", &path),
                };
                match record_file::decode(self.record_mac_key()?, &bytes, index, &key) {
                    Decoded::Authentic(record) if self.has_top_object(&record) => {
                        if index == OutputIndex::Recipe {
                            live_recipes.insert(key);
                        }
                    }
                    _ => {
                        report.freed_bytes += remove_file_if_exists(&path)?;
                        report.removed_outputs += 1;
                    }
                }
            }
            remove_empty_fan_out_directories(&directory);
        }
        Ok(live_recipes)
    }

    fn sweep_other(&self, options: &GcOptions, report: &mut GcReport) -> Result<(), StoreError> {
        for directory in self.layout.published_directories() {
            let (count, bytes) = remove_stale_temporaries(&directory, options.tmp_max_age)?;
            report.removed_other += count;
            report.freed_bytes += bytes;
        }
        let quarantine = self.layout.quarantine();
        for name in sorted_names(&quarantine)? {
            report.freed_bytes += remove_file_if_exists(&quarantine.join(name))?;
            report.removed_other += 1;
        }
        let locks = self.layout.build_locks();
        for name in sorted_names(&locks)? {
            if crate::lock::remove_if_unused(&locks.join(name))? {
                report.removed_other += 1;
            }
        }
        Ok(())
    }
}

/// Removes the `x/` fan-out directories that became empty (best effort).
fn remove_empty_fan_out_directories(directory: &Path) {
    if let Ok(names) = sorted_names(directory) {
        for name in names {
            let _ = fs::remove_dir(directory.join(name));
        }
    }
}

/// Whether reading a result manifest failed because it is gone: its result directory
/// (or a directory above it) was removed or replaced by a file.
fn is_gone(error: &StoreError) -> bool {
    match error {
        StoreError::Io { source, .. } => matches!(
            source.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
        ),
        _ => is_not_found(error),
    }
}

fn bad_root(path: PathBuf, target: Option<PathBuf>, error: &StoreError) -> BadRoot {
    let mut problem = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        problem.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    let recursive = fs::symlink_metadata(&path).is_ok_and(|metadata| metadata.is_dir());
    let remove_command = format!(
        "rm {}{}",
        if recursive { "-r " } else { "" },
        shell_quote(&path)
    );
    BadRoot {
        path,
        target,
        problem,
        remove_command,
    }
}

/// `path` as a shell word: as is when plain, in single quotes when it is printable
/// UTF-8, otherwise in `$'...'` with escapes (bash, zsh, ksh and POSIX 2024 `sh`), so
/// that a name with control characters or invalid UTF-8 is still removed exactly.
fn shell_quote(path: &Path) -> String {
    let bytes = path.as_os_str().as_encoded_bytes();
    let plain = |byte: &u8| byte.is_ascii_alphanumeric() || b"/._-+,:@".contains(byte);
    if !bytes.is_empty() && bytes.iter().all(plain) {
        return path.to_string_lossy().into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(char::is_control) => {
            format!("'{}'", text.replace('\'', "'\\''"))
        }
        _ => {
            let mut quoted = String::from("$'");
            for byte in bytes {
                match byte {
                    b'\'' | b'\\' => quoted.push_str(&format!("\\{}", char::from(*byte))),
                    0x20..=0x7e => quoted.push(char::from(*byte)),
                    _ => quoted.push_str(&format!("\\x{byte:02x}")),
                }
            }
            quoted.push('\'');
            quoted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    #[test]
    fn remove_commands_quote_every_name_exactly() {
        let check = |bytes: &[u8], expected: &str| {
            assert_eq!(shell_quote(Path::new(OsStr::from_bytes(bytes))), expected);
        };
        check(b"/s/roots/explicit/web-1.2", "/s/roots/explicit/web-1.2");
        check(b"/s/made by hand", "'/s/made by hand'");
        check(b"/s/it's", "'/s/it'\\''s'");
        check(b"/s/a\nb\xff", "$'/s/a\\x0ab\\xff'");
        check(b"/s/q'\\\x1b", "$'/s/q\\'\\\\\\x1b'");
    }
}
