//! `store info`: how much is in the store and how much disk it takes.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::StoreError;
use crate::layout::{list_fanned_out, sorted_names};
use crate::output::OutputIndex;
use crate::Store;

/// A count of files and the disk space they occupy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Number of files.
    pub count: u64,
    /// Allocated bytes on disk (holes and compression make this differ from sizes).
    pub disk_bytes: u64,
}

/// Counts and sizes of everything in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreInfo {
    /// Blob objects (single and manifest).
    pub blobs: Usage,
    /// Chunk objects.
    pub chunks: Usage,
    /// Directory objects.
    pub trees: Usage,
    /// Records in the cache-key index.
    pub cache_key_outputs: Usage,
    /// Records in the recipe index.
    pub recipe_outputs: Usage,
    /// Build logs.
    pub logs: Usage,
    /// Explicit roots.
    pub explicit_roots: Usage,
    /// Automatic roots (result manifests).
    pub auto_roots: Usage,
    /// Quarantined objects.
    pub quarantined: Usage,
    /// Sum of the uncompressed sizes of all blobs.
    pub logical_blob_bytes: u64,
}

impl StoreInfo {
    /// Allocated bytes of everything counted.
    pub fn total_disk_bytes(&self) -> u64 {
        [
            self.blobs,
            self.chunks,
            self.trees,
            self.cache_key_outputs,
            self.recipe_outputs,
            self.logs,
            self.explicit_roots,
            self.auto_roots,
            self.quarantined,
        ]
        .iter()
        .map(|usage| usage.disk_bytes)
        .sum()
    }
}

fn allocated(path: &Path) -> u64 {
    fs::symlink_metadata(path).map_or(0, |metadata| metadata.blocks() * 512)
}

fn usage_of_fanned_out(directory: &Path, suffix: &str) -> Result<Usage, StoreError> {
    let mut usage = Usage::default();
    for (_, path) in list_fanned_out(directory, suffix)? {
        usage.count += 1;
        usage.disk_bytes += allocated(&path);
    }
    Ok(usage)
}

fn usage_of_directory(directory: &Path) -> Result<Usage, StoreError> {
    let mut usage = Usage::default();
    for name in sorted_names(directory)? {
        usage.count += 1;
        usage.disk_bytes += allocated(&directory.join(name));
    }
    Ok(usage)
}

impl Store {
    /// Counts and sizes (reads one small header per blob for the logical size).
    pub fn info(&self) -> Result<StoreInfo, StoreError> {
        let layout = &self.layout;
        let mut logical_blob_bytes = 0;
        let mut blobs = Usage::default();
        for (digest, path) in list_fanned_out(&layout.blobs(), "")? {
            blobs.count += 1;
            blobs.disk_bytes += allocated(&path);
            logical_blob_bytes += self.blob_size(&digest).unwrap_or(0);
        }
        Ok(StoreInfo {
            blobs,
            chunks: usage_of_fanned_out(&layout.chunks(), "")?,
            trees: usage_of_fanned_out(&layout.trees(), "")?,
            cache_key_outputs: usage_of_fanned_out(&layout.outputs(OutputIndex::CacheKey), "")?,
            recipe_outputs: usage_of_fanned_out(&layout.outputs(OutputIndex::Recipe), "")?,
            logs: usage_of_fanned_out(&layout.logs(), ".log")?,
            explicit_roots: usage_of_directory(&layout.explicit_roots())?,
            auto_roots: usage_of_directory(&layout.auto_roots())?,
            quarantined: usage_of_directory(&layout.quarantine())?,
            logical_blob_bytes,
        })
    }
}
