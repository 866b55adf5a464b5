//! Keyed outputs: what a build produced, found by cache key or by recipe identity.
//!
//! Two indexes map a [`Digest`] key to an [`OutputRecord`]:
//! [`OutputIndex::CacheKey`] (`outputs/cache-key/x/<63 hex>`) and
//! [`OutputIndex::Recipe`] (`outputs/recipe/x/<63 hex>`), fanned out by the key's
//! first hex digit. A record file is a small versioned JSON document
//! (`{"version":1,"record":…}` and a newline), replaced atomically; a file of another
//! version reads as absent. [`Store::put_output_pair`] writes a build's two entries as
//! one file: the recipe-index entry is a hard link to the cache-key entry where the file
//! system allows, a second file otherwise. A record whose top object is gone
//! (collected, quarantined or invalidated) reads as absent, so the output is rebuilt.
//!
//! [`OutputRecord::digest`] is the "output digest" that dependents' cache keys
//! are computed from (early cutoff). It is BLAKE3 of this encoding:
//!
//! ```text
//! "imgbuild-output-v1\0"          19 bytes: domain and version
//! kind u8                         1 = file, 2 = tree
//! file: blob digest [32], size u64 LE, executable u8 (0 or 1)
//! tree: tree digest [32]
//! ```
//!
//! `secret` is not part of it: it changes how the bytes are stored, not what they are.

use std::fs;
use std::io::{self, Write};

use crate::digest::Digest;
use crate::error::{IoResultExt, ObjectKind, StoreError};
use crate::layout::{exists, publish_file, remove_file_if_exists, INDEX_MODE};
use crate::Store;

/// Domain separator and version of [`OutputRecord::digest`].
pub const OUTPUT_DIGEST_PREFIX: &[u8; 19] = b"imgbuild-output-v1\0";
const RECORD_FORMAT_VERSION: u32 = 1;

/// Which of the two output indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputIndex {
    /// Keyed by cache key (inputs' output digests).
    CacheKey,
    /// Keyed by recipe identity (the fast path for no-op builds).
    Recipe,
}

impl OutputIndex {
    /// Both indexes.
    pub const ALL: [OutputIndex; 2] = [OutputIndex::CacheKey, OutputIndex::Recipe];
}

/// What a build produced.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OutputObject {
    /// A single file.
    File {
        /// Its content.
        blob: Digest,
        /// Its size.
        size: u64,
        /// Whether it is materialized executable (0755).
        executable: bool,
    },
    /// A directory tree.
    Tree {
        /// The root tree digest.
        tree: Digest,
    },
}

/// An output and how it is to be treated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputRecord {
    /// The object.
    pub object: OutputObject,
    /// Whether the output holds secrets (stored and materialized owner-only).
    pub secret: bool,
}

impl OutputRecord {
    /// The output digest (see the module documentation for the encoding).
    pub fn digest(&self) -> Digest {
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(OUTPUT_DIGEST_PREFIX);
        match &self.object {
            OutputObject::File {
                blob,
                size,
                executable,
            } => {
                bytes.push(1);
                bytes.extend_from_slice(blob.as_bytes());
                bytes.extend_from_slice(&size.to_le_bytes());
                bytes.push(u8::from(*executable));
            }
            OutputObject::Tree { tree } => {
                bytes.push(2);
                bytes.extend_from_slice(tree.as_bytes());
            }
        }
        Digest::of(&bytes)
    }

    /// The blob or root tree this record points to.
    pub fn top_object(&self) -> (ObjectKind, Digest) {
        match &self.object {
            OutputObject::File { blob, .. } => (ObjectKind::Blob, *blob),
            OutputObject::Tree { tree } => (ObjectKind::Tree, *tree),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRecord {
    version: u32,
    record: OutputRecord,
}

/// Decodes a record file; `None` if it is not a record of the current format.
pub(crate) fn decode_record(bytes: &[u8]) -> Option<OutputRecord> {
    let stored: StoredRecord = serde_json::from_slice(bytes).ok()?;
    (stored.version == RECORD_FORMAT_VERSION).then_some(stored.record)
}

pub(crate) fn encode_record(record: &OutputRecord) -> Vec<u8> {
    let stored = StoredRecord {
        version: RECORD_FORMAT_VERSION,
        record: record.clone(),
    };
    let mut bytes = serde_json::to_vec(&stored).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

impl Store {
    /// Records `record` under `key`, replacing any previous record.
    pub fn put_output(
        &self,
        index: OutputIndex,
        key: &Digest,
        record: &OutputRecord,
    ) -> Result<(), StoreError> {
        let path = self.layout.output(index, key);
        let bytes = encode_record(record);
        publish_file(&path, INDEX_MODE, true, |file| file.write_all(&bytes))?;
        Ok(())
    }

    /// Publishes `record` under `cache_key` in the cache-key index and under `recipe`
    /// in the recipe index. The second entry is a hard link to the first where the file
    /// system allows: one file (inode) per derivation instead of two, which matters on
    /// file systems where creating files is slow. Falls back to a second file.
    pub fn put_output_pair(
        &self,
        cache_key: &Digest,
        recipe: &Digest,
        record: &OutputRecord,
    ) -> Result<(), StoreError> {
        self.put_output(OutputIndex::CacheKey, cache_key, record)?;
        let source = self.layout.output(OutputIndex::CacheKey, cache_key);
        let link = self.layout.output(OutputIndex::Recipe, recipe);
        let linked = match fs::hard_link(&source, &link) {
            Ok(()) => true,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                // The shard directory does not exist yet.
                link.parent()
                    .is_some_and(|parent| crate::layout::create_directories(parent).is_ok())
                    && fs::hard_link(&source, &link).is_ok()
            }
            Err(_) => false,
        };
        if !linked {
            // Already there (maybe from an older build) or links unsupported: write it.
            self.put_output(OutputIndex::Recipe, recipe, record)?;
        }
        Ok(())
    }

    /// The record under `key`, or `None` if there is none, if its top object is
    /// missing, or if the record file does not decode (it is then rebuilt).
    pub fn get_output(
        &self,
        index: OutputIndex,
        key: &Digest,
    ) -> Result<Option<OutputRecord>, StoreError> {
        let path = self.layout.output(index, key);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error).at("read", &path),
        };
        let Some(record) = decode_record(&bytes) else {
            return Ok(None);
        };
        Ok(self.has_top_object(&record).then_some(record))
    }

    /// Removes the record under `key` (absent is fine).
    pub fn remove_output(&self, index: OutputIndex, key: &Digest) -> Result<(), StoreError> {
        remove_file_if_exists(&self.layout.output(index, key))?;
        Ok(())
    }

    /// Whether the blob or root tree of `record` exists (one `stat`).
    pub fn has_top_object(&self, record: &OutputRecord) -> bool {
        let (kind, digest) = record.top_object();
        let path = match kind {
            ObjectKind::Blob => self.layout.blob(&digest),
            _ => self.layout.tree(&digest),
        };
        exists(&path)
    }

    /// Makes `record`'s output count as absent so that it is rebuilt.
    ///
    /// Everything reachable from the record is re-verified and corrupt objects
    /// are moved to `quarantine/` (a corrupt chunk or subtree would otherwise
    /// survive the rebuild, because existing objects are never rewritten); then
    /// the top object itself is removed.
    pub fn invalidate_object(&self, record: &OutputRecord) -> Result<(), StoreError> {
        crate::verify::quarantine_corrupt_reachable(&self.layout, record)?;
        let (kind, digest) = record.top_object();
        let path = match kind {
            ObjectKind::Blob => self.layout.blob(&digest),
            _ => self.layout.tree(&digest),
        };
        remove_file_if_exists(&path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_files_round_trip_and_reject_other_versions() {
        let record = OutputRecord {
            object: OutputObject::File {
                blob: Digest::of(b"x"),
                size: 1,
                executable: true,
            },
            secret: false,
        };
        let bytes = encode_record(&record);
        assert_eq!(decode_record(&bytes), Some(record));
        let text = String::from_utf8(bytes).expect("utf-8");
        assert!(decode_record(text.replace("\"version\":1", "\"version\":2").as_bytes()).is_none());
        assert!(decode_record(b"{").is_none());
    }
}
