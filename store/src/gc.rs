//! `store gc`: delete everything no root reaches.
//!
//! Roots are the explicit roots (`roots/explicit/*`) and the result manifests
//! that `roots/auto/*` link to; a link whose manifest is gone is dead and
//! removed. Marking goes records → trees → blobs → chunks; then the sweep
//! deletes unmarked objects, output records whose object is gone, logs whose
//! key has no live recipe-index entry, stale temporary files, quarantined
//! objects and build lock files nobody holds.
//!
//! GC holds the store-wide lock exclusively, so it waits for running builds
//! (which hold it shared, see [`Store::build_session`]) and they wait for it.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::blob::{decode_blob, read_object, BlobObject, ManifestEntry};
use crate::digest::Digest;
use crate::error::{is_not_found, IoResultExt, ObjectKind, StoreError};
use crate::layout::{
    list_fanned_out, remove_file_if_exists, remove_stale_temporaries, sorted_names,
};
use crate::output::{decode_record, OutputIndex, OutputObject, OutputRecord};
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
    /// Dead automatic roots removed.
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
            self.mark_record(&record, &mut live)?;
        }
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
        let live_recipes = self.sweep_outputs(&mut report)?;
        for (key, path) in list_fanned_out(&layout.logs(), ".log")? {
            if !live_recipes.contains(&key) {
                report.freed_bytes += remove_file_if_exists(&path)?;
                report.removed_logs += 1;
            }
        }
        remove_empty_fan_out_directories(&layout.logs());
        self.sweep_other(options, &mut report)?;
        Ok(report)
    }

    /// Every record held by a root; dead automatic roots are removed on the way.
    fn root_records(&self, report: &mut GcReport) -> Result<Vec<OutputRecord>, StoreError> {
        let mut records = Vec::new();
        for (_, root_records) in self.explicit_roots()? {
            records.extend(root_records);
        }
        for (link, manifest) in auto_roots(self)? {
            match read_manifest(&manifest) {
                Ok(entries) => records.extend(entries.into_iter().map(|(_, record)| record)),
                Err(error) if is_not_found(&error) => {
                    remove_file_if_exists(&link)?;
                    report.removed_roots += 1;
                }
                // A file that is no longer a manifest (replaced by the user): dead too.
                Err(StoreError::InvalidManifest { .. }) => {
                    remove_file_if_exists(&link)?;
                    report.removed_roots += 1;
                }
                Err(error) => return Err(error),
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
                match decode_record(&bytes) {
                    Some(record) if self.has_top_object(&record) => {
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
