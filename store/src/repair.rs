//! Repairing what one output reaches: the store's answer to a missing or corrupt object
//! met during a build.
//!
//! [`Store::repair_output`] re-reads everything an output record reaches — directory
//! objects, blobs, the chunks of large blobs — and re-hashes it. A corrupt object is
//! moved to `quarantine/` (as `store verify` does). An object that leads to a missing
//! or quarantined one is removed: the directory objects above it up to the output's
//! top tree, and the chunk manifest of a blob whose chunk is gone. Existing objects are
//! never rewritten, so without this a rebuilt output would refer to the same broken
//! object again; with it, the record's top object is gone, the record reads as absent,
//! and the rebuild writes every object that is missing — healing the store.
//!
//! What is reported is the cause (the missing or corrupt object, with the path inside
//! the output that needs it), not the referrers removed on the way. An output with
//! nothing wrong is left untouched. Cost: a full re-hash of the output; the engine calls
//! this only after a build met a damaged object.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::blob::{decode_blob, decode_chunk, hash_zeros, read_object, visit_blob};
use crate::blob::{BlobObject, ManifestEntry};
use crate::digest::Digest;
use crate::error::{ObjectKind, StoreError};
use crate::layout::{remove_file_if_exists, Layout};
use crate::output::{OutputObject, OutputRecord};
use crate::tree::EntryKind;
use crate::tree_encoding::DecodedKind;
use crate::tree_store::read_directory;
use crate::verify::{quarantine, VerifyProblem};
use crate::Store;

/// Deeper trees than this are not walked further (and count as damaged): Linux paths
/// cannot be this deep, and `put_tree` refuses them.
const MAX_DEPTH: usize = 4096;

impl Store {
    /// Checks everything `record` reaches and clears the way for a rebuild when
    /// something is missing or corrupt (see the module documentation). Returns what was
    /// wrong; empty when the output is complete, in which case nothing was touched.
    pub fn repair_output(&self, record: &OutputRecord) -> Result<Vec<VerifyProblem>, StoreError> {
        let mut walk = Walk {
            layout: &self.layout,
            blobs: HashMap::new(),
            trees: HashMap::new(),
            problems: Vec::new(),
        };
        match &record.object {
            OutputObject::File { blob, .. } => walk.blob(blob, "")?,
            OutputObject::Tree { tree } => walk.tree(tree, "", 0)?,
        };
        Ok(walk.problems)
    }
}

struct Walk<'a> {
    layout: &'a Layout,
    /// Blobs and directory objects already checked: whether they are damaged.
    blobs: HashMap<Digest, bool>,
    trees: HashMap<Digest, bool>,
    problems: Vec<VerifyProblem>,
}

/// ` (`path`)` naming where an object is used inside the output, or nothing at the top.
fn place(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" (needed by `{path}`)")
    }
}

impl Walk<'_> {
    fn missing(&mut self, kind: ObjectKind, digest: &Digest, description: String) {
        let path = match kind {
            ObjectKind::Blob => self.layout.blob(digest),
            ObjectKind::Chunk => self.layout.chunk(digest),
            _ => self.layout.tree(digest),
        };
        self.problems.push(VerifyProblem {
            kind,
            digest: *digest,
            path,
            description,
            quarantined_to: None,
        });
    }

    fn corrupt(&mut self, kind: ObjectKind, digest: &Digest, path: &str) -> Result<(), StoreError> {
        let file = match kind {
            ObjectKind::Blob => self.layout.blob(digest),
            ObjectKind::Chunk => self.layout.chunk(digest),
            _ => self.layout.tree(digest),
        };
        let description = format!("content does not match its digest{}", place(path));
        let problem = quarantine(self.layout, kind, digest, &file, description)?;
        self.problems.push(problem);
        Ok(())
    }

    /// Checks a directory object and everything below it; true when damaged (it is
    /// then gone from the store).
    fn tree(&mut self, digest: &Digest, path: &str, depth: usize) -> Result<bool, StoreError> {
        if let Some(damaged) = self.trees.get(digest) {
            return Ok(*damaged);
        }
        let directory = match read_directory(self.layout, digest) {
            Ok(directory) => Some(directory),
            Err(StoreError::NotFound { .. }) => {
                let description = format!("missing from the store{}", place(path));
                self.missing(ObjectKind::Tree, digest, description);
                None
            }
            Err(StoreError::ObjectCorrupt { .. }) => {
                self.corrupt(ObjectKind::Tree, digest, path)?;
                None
            }
            Err(error) => return Err(error),
        };
        let mut damaged = directory.is_none();
        for (name, kind, _) in directory.iter().flat_map(|directory| &directory.entries) {
            let child_path = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}/{name}")
            };
            damaged |= match kind {
                DecodedKind::Directory(_) if depth >= MAX_DEPTH => true,
                DecodedKind::Directory(child) => self.tree(child, &child_path, depth + 1)?,
                DecodedKind::Leaf(EntryKind::File { blob, .. }) => self.blob(blob, &child_path)?,
                DecodedKind::Leaf(_) => false,
            };
        }
        if damaged {
            // It leads to something missing: remove it so that it is written again.
            remove_file_if_exists(&self.layout.tree(digest))?;
        }
        self.trees.insert(*digest, damaged);
        Ok(damaged)
    }

    /// Checks a blob (and its chunks); true when damaged (it is then gone).
    fn blob(&mut self, digest: &Digest, path: &str) -> Result<bool, StoreError> {
        if let Some(damaged) = self.blobs.get(digest) {
            return Ok(*damaged);
        }
        let damaged = self.check_blob(digest, path)?;
        self.blobs.insert(*digest, damaged);
        Ok(damaged)
    }

    fn check_blob(&mut self, digest: &Digest, path: &str) -> Result<bool, StoreError> {
        let file = self.layout.blob(digest);
        let data = match read_object(&file, ObjectKind::Blob, digest) {
            Ok(data) => data,
            Err(StoreError::NotFound { .. }) => {
                let description = format!("missing from the store{}", place(path));
                self.missing(ObjectKind::Blob, digest, description);
                return Ok(true);
            }
            Err(error) => return Err(error),
        };
        let entries = match decode_blob(&data) {
            Some(BlobObject::Manifest { entries, .. }) => entries,
            Some(BlobObject::Single { .. }) => {
                return match visit_blob(self.layout, digest, &mut |_| Ok(())) {
                    Ok(_) => Ok(false),
                    Err(StoreError::ObjectCorrupt { .. }) => {
                        self.corrupt(ObjectKind::Blob, digest, path)?;
                        Ok(true)
                    }
                    Err(StoreError::NotFound { .. }) => {
                        let description = format!("missing from the store{}", place(path));
                        self.missing(ObjectKind::Blob, digest, description);
                        Ok(true)
                    }
                    Err(error) => Err(error),
                };
            }
            None => {
                self.corrupt(ObjectKind::Blob, digest, path)?;
                return Ok(true);
            }
        };
        // Every chunk is checked (a second corrupt chunk would otherwise survive the
        // rebuild), in parallel batches; the whole content is hashed on the way.
        let mut hasher = blake3::Hasher::new();
        let mut chunks_damaged = false;
        for batch in entries.chunks(64) {
            let contents: Vec<Result<Piece, StoreError>> = batch
                .par_iter()
                .map(|entry| read_piece(self.layout, entry))
                .collect();
            for (entry, content) in batch.iter().zip(contents) {
                match (entry, content?) {
                    (_, Piece::Zeros(length)) => hash_zeros(&mut hasher, length),
                    (_, Piece::Data(bytes)) => {
                        hasher.update(&bytes);
                    }
                    (ManifestEntry::Chunk { digest: chunk, .. }, Piece::Corrupt) => {
                        self.corrupt(ObjectKind::Chunk, chunk, path)?;
                        chunks_damaged = true;
                    }
                    (ManifestEntry::Chunk { digest: chunk, .. }, Piece::Missing) => {
                        let description = if path.is_empty() {
                            format!("missing from the store (a chunk of blob {digest})")
                        } else {
                            format!(
                                "missing from the store (a chunk of blob {digest}, needed by `{path}`)"
                            )
                        };
                        self.missing(ObjectKind::Chunk, chunk, description);
                        chunks_damaged = true;
                    }
                    (ManifestEntry::Hole { .. }, _) => {}
                }
            }
        }
        if chunks_damaged {
            // The manifest is sound but leads to a missing chunk: remove it so that the
            // rebuild writes the blob (and the chunk) again.
            remove_file_if_exists(&file)?;
            return Ok(true);
        }
        if Digest::from(hasher.finalize()) != *digest {
            self.corrupt(ObjectKind::Blob, digest, path)?;
            return Ok(true);
        }
        Ok(false)
    }
}

/// One entry of a chunk manifest, read and checked.
enum Piece {
    Data(Vec<u8>),
    Zeros(u64),
    Corrupt,
    Missing,
}

fn read_piece(layout: &Layout, entry: &ManifestEntry) -> Result<Piece, StoreError> {
    let (digest, length) = match entry {
        ManifestEntry::Chunk { digest, length } => (digest, *length),
        ManifestEntry::Hole { length } => return Ok(Piece::Zeros(*length)),
    };
    let data = match read_object(&layout.chunk(digest), ObjectKind::Chunk, digest) {
        Ok(data) => data,
        Err(StoreError::NotFound { .. }) => return Ok(Piece::Missing),
        Err(error) => return Err(error),
    };
    Ok(match decode_chunk(&data, digest) {
        Some(bytes) if bytes.len() as u64 == length => Piece::Data(bytes),
        _ => Piece::Corrupt,
    })
}
