//! Keyed outputs: what a build produced, found by cache key or by recipe identity.
//!
//! Two indexes map a [`Digest`] key to an [`OutputRecord`]:
//! [`OutputIndex::CacheKey`] (`outputs/cache-key/x/<63 hex>`) and
//! [`OutputIndex::Recipe`] (`outputs/recipe/x/<63 hex>`), fanned out by the key's
//! first hex digit. A record file is a small versioned JSON document that names the
//! index entries it stands for and carries a MAC with the store's secret key
//! (format version 2, see [`crate::record_file`]), replaced atomically.
//! [`Store::put_output_pair`] writes a build's two entries as one file: the recipe-index
//! entry is a hard link to the cache-key entry where the file system allows, a second
//! file otherwise.
//!
//! A record reads as absent, so that its output is rebuilt, when its top object is gone
//! (collected, quarantined or invalidated), when it is of the older format version 1
//! (records written before MACs: every output is rebuilt or found again by cache key
//! once after the upgrade), and when it is not authentic — edited by hand, copied over
//! another key's record, written with another key. [`Store::lookup_output`] tells the
//! last case apart ([`OutputLookup::Rejected`]) so that a build can say so; `store
//! verify` reports and removes such records. The MAC key is derived from the secret key
//! once per [`Store`] value and cached.
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
use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::{IoResultExt, ObjectKind, StoreError};
use crate::layout::{exists, publish_file, remove_file_if_exists, INDEX_MODE};
use crate::record_file::{self, Decoded, IndexEntry, MacKey, RECORD_MAC_PURPOSE};
use crate::verify::VerifyProblem;
use crate::Store;

/// Domain separator and version of [`OutputRecord::digest`].
pub const OUTPUT_DIGEST_PREFIX: &[u8; 19] = b"imgbuild-output-v1\0";

/// Which of the two output indexes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
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
        self.encode_object(&mut bytes);
        Digest::of(&bytes)
    }

    /// Appends the encoding the output digest is computed over.
    pub(crate) fn encode_object(&self, bytes: &mut Vec<u8>) {
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
    }

    /// The blob or root tree this record points to.
    pub fn top_object(&self) -> (ObjectKind, Digest) {
        match &self.object {
            OutputObject::File { blob, .. } => (ObjectKind::Blob, *blob),
            OutputObject::Tree { tree } => (ObjectKind::Tree, *tree),
        }
    }
}

/// What an output index holds under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputLookup {
    /// An authentic record whose top object exists.
    Found(OutputRecord),
    /// No usable record: none, one of an older format, or one whose top object is gone.
    Absent,
    /// A record file that is not what this store wrote under the key (edited by hand,
    /// copied from another key, written with another secret key, or not a record at
    /// all). It counts as absent; the output is rebuilt and the file replaced.
    Rejected {
        /// The record file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl Store {
    /// The MAC key of output records, derived from the store's secret key the first time
    /// it is needed and then kept (a no-op build reads the key file once, not once per
    /// derivation).
    pub(crate) fn record_mac_key(&self) -> Result<&MacKey, StoreError> {
        if let Some(key) = self.record_mac_key.get() {
            return Ok(key);
        }
        let key = MacKey(self.secret_key()?.subkey(RECORD_MAC_PURPOSE));
        Ok(self.record_mac_key.get_or_init(|| key))
    }

    /// Reads the record file at `path`, found under `(index, key)`: `None` if it does
    /// not exist.
    pub(crate) fn read_record_file(
        &self,
        path: &std::path::Path,
        index: OutputIndex,
        key: &Digest,
    ) -> Result<Option<Decoded>, StoreError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error).at("read", path),
        };
        Ok(Some(record_file::decode(
            self.record_mac_key()?,
            &bytes,
            index,
            key,
        )))
    }

    fn write_record(
        &self,
        entries: &[IndexEntry],
        record: &OutputRecord,
    ) -> Result<(), StoreError> {
        let bytes = record_file::encode(self.record_mac_key()?, entries, record);
        let path = self.layout.output(entries[0].index, &entries[0].key);
        publish_file(&path, INDEX_MODE, true, |file| file.write_all(&bytes))?;
        Ok(())
    }

    /// Records `record` under `key`, replacing any previous record.
    pub fn put_output(
        &self,
        index: OutputIndex,
        key: &Digest,
        record: &OutputRecord,
    ) -> Result<(), StoreError> {
        self.write_record(&[IndexEntry { index, key: *key }], record)
    }

    /// Publishes `record` under `cache_key` in the cache-key index and under `recipe`
    /// in the recipe index. The second entry is a hard link to the first where the file
    /// system allows: one file (inode) per derivation instead of two, which matters on
    /// file systems where creating files is slow. The file names both entries (and its
    /// MAC covers both). Falls back to a second file.
    pub fn put_output_pair(
        &self,
        cache_key: &Digest,
        recipe: &Digest,
        record: &OutputRecord,
    ) -> Result<(), StoreError> {
        let entries = [
            IndexEntry {
                index: OutputIndex::CacheKey,
                key: *cache_key,
            },
            IndexEntry {
                index: OutputIndex::Recipe,
                key: *recipe,
            },
        ];
        self.write_record(&entries, record)?;
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

    /// What the index holds under `key`; see [`OutputLookup`].
    pub fn lookup_output(
        &self,
        index: OutputIndex,
        key: &Digest,
    ) -> Result<OutputLookup, StoreError> {
        let path = self.layout.output(index, key);
        Ok(match self.read_record_file(&path, index, key)? {
            None | Some(Decoded::Outdated) => OutputLookup::Absent,
            Some(Decoded::Rejected(reason)) => OutputLookup::Rejected { path, reason },
            Some(Decoded::Authentic(record)) if self.has_top_object(&record) => {
                OutputLookup::Found(record)
            }
            Some(Decoded::Authentic(_)) => OutputLookup::Absent,
        })
    }

    /// The record under `key`, or `None` if there is none, if its top object is
    /// missing, or if the record file is not authentic ([`OutputLookup::Rejected`]);
    /// the output is then rebuilt.
    pub fn get_output(
        &self,
        index: OutputIndex,
        key: &Digest,
    ) -> Result<Option<OutputRecord>, StoreError> {
        Ok(match self.lookup_output(index, key)? {
            OutputLookup::Found(record) => Some(record),
            OutputLookup::Absent | OutputLookup::Rejected { .. } => None,
        })
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

    /// Makes `record`'s output count as absent so that it is rebuilt, and says why.
    ///
    /// Everything reachable from the record is checked as [`Store::repair_output`]
    /// does (corrupt objects are moved to `quarantine/`, objects that lead to a missing
    /// one are removed: a corrupt or missing chunk or subtree would otherwise survive
    /// the rebuild, because existing objects are never rewritten); then the top object
    /// itself is removed, whatever was found. Returns what was wrong below it.
    pub fn invalidate_object(
        &self,
        record: &OutputRecord,
    ) -> Result<Vec<VerifyProblem>, StoreError> {
        let problems = self.repair_output(record)?;
        let (kind, digest) = record.top_object();
        let path = match kind {
            ObjectKind::Blob => self.layout.blob(&digest),
            _ => self.layout.tree(&digest),
        };
        remove_file_if_exists(&path)?;
        Ok(problems)
    }
}
