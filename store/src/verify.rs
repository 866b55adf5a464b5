//! `store verify`: re-hash everything, quarantine what is corrupt.
//!
//! Chunks, blobs and directory objects are re-read and re-hashed (chunks and
//! blobs in parallel). A corrupt object is moved to `quarantine/<kind>-<hex>` so
//! it is never used again; anything that refers to a quarantined or missing
//! object is quarantined too (a blob whose chunk is gone, a tree whose blob or
//! subtree is gone), so its output reads as absent and is rebuilt. Output
//! records that are not authentic (their MAC or key does not match: edited by hand,
//! copied over another record, written with another secret key), that do not decode or
//! that point to a missing object are reported and removed; records of the older
//! format version 1 are removed and counted ([`VerifyReport::outdated_records`]), not
//! reported as problems (their outputs are rebuilt once after an upgrade).
//!
//! Cost: every chunk is decompressed twice (once on its own, once while
//! re-hashing the blobs that use it); verify is an explicit maintenance command.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::blob::{decode_chunk, read_object, visit_blob};
use crate::digest::Digest;
use crate::error::{IoResultExt, ObjectKind, StoreError};
use crate::layout::{exists, list_fanned_out, remove_file_if_exists, Layout};
use crate::output::OutputIndex;
use crate::record_file::{index_name, Decoded};
use crate::tree::EntryKind;
use crate::tree_encoding::{decode_directory, DecodedKind};
use crate::Store;

/// What `verify` checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Object files re-hashed (chunks, blobs, directory objects).
    pub checked_objects: u64,
    /// Their total size on disk.
    pub checked_bytes: u64,
    /// Everything that was wrong, in the order found.
    pub problems: Vec<VerifyProblem>,
    /// Output records of an older format (before MACs) that were removed.
    pub outdated_records: u64,
}

/// One thing `verify` found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyProblem {
    /// The kind of object.
    pub kind: ObjectKind,
    /// Its digest (the key, for an output record).
    pub digest: Digest,
    /// Where it was.
    pub path: PathBuf,
    /// What is wrong.
    pub description: String,
    /// Where it was moved, or `None` if it was deleted (output records) or missing.
    pub quarantined_to: Option<PathBuf>,
}

impl fmt::Display for VerifyProblem {
    /// `blob <digest>: <description>`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} {}: {}",
            self.kind, self.digest, self.description
        )
    }
}

fn kind_directory_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Blob => "blob",
        ObjectKind::Chunk => "chunk",
        ObjectKind::Tree => "tree",
        ObjectKind::Output => "output",
        ObjectKind::Log => "log",
        ObjectKind::Root => "root",
    }
}

/// Moves an object into `quarantine/`; returns where it went.
pub(crate) fn quarantine(
    layout: &Layout,
    kind: ObjectKind,
    digest: &Digest,
    path: &Path,
    description: String,
) -> Result<VerifyProblem, StoreError> {
    let destination = layout
        .quarantine()
        .join(format!("{}-{digest}", kind_directory_name(kind)));
    let quarantined_to = match fs::rename(path, &destination) {
        Ok(()) => Some(destination),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).at("move to quarantine", path),
    };
    Ok(VerifyProblem {
        kind,
        digest: *digest,
        path: path.to_path_buf(),
        description,
        quarantined_to,
    })
}

fn file_size(path: &Path) -> u64 {
    fs::symlink_metadata(path).map_or(0, |metadata| metadata.len())
}

/// Checks one chunk object: `None` if fine, else what is wrong.
fn chunk_problem(path: &Path, digest: &Digest) -> Result<Option<&'static str>, StoreError> {
    let data = read_object(path, ObjectKind::Chunk, digest)?;
    Ok(decode_chunk(&data, digest)
        .is_none()
        .then_some("content does not match its digest"))
}

/// Checks one blob (with its chunks and whole-content hash): `None` if fine.
fn blob_problem(layout: &Layout, digest: &Digest) -> Result<Option<String>, StoreError> {
    match visit_blob(layout, digest, &mut |_| Ok(())) {
        Ok(_) => Ok(None),
        Err(StoreError::ObjectCorrupt {
            kind: ObjectKind::Blob,
            ..
        }) => Ok(Some("content does not match its digest".to_owned())),
        Err(StoreError::ObjectCorrupt {
            kind: ObjectKind::Chunk,
            digest: chunk,
            ..
        }) => Ok(Some(format!("chunk {chunk} is corrupt"))),
        Err(StoreError::NotFound {
            kind: ObjectKind::Chunk,
            digest: chunk,
        }) => Ok(Some(format!("chunk {chunk} is missing"))),
        Err(error) => Err(error),
    }
}

impl Store {
    /// Re-hashes every chunk, blob and directory object and checks output records.
    /// Corrupt objects are quarantined; takes the store-wide lock exclusively.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let _guard = self.exclusive_session()?;
        let layout = &self.layout;
        let mut report = VerifyReport::default();

        let chunks = list_fanned_out(&layout.chunks(), "")?;
        let chunk_results = chunks
            .par_iter()
            .map(|(digest, path)| Ok((chunk_problem(path, digest)?, file_size(path))))
            .collect::<Result<Vec<_>, StoreError>>()?;
        for ((digest, path), (problem, size)) in chunks.iter().zip(chunk_results) {
            report.checked_objects += 1;
            report.checked_bytes += size;
            if let Some(problem) = problem {
                let problem = quarantine(layout, ObjectKind::Chunk, digest, path, problem.into())?;
                report.problems.push(problem);
            }
        }

        let blobs = list_fanned_out(&layout.blobs(), "")?;
        let blob_results = blobs
            .par_iter()
            .map(|(digest, path)| Ok((blob_problem(layout, digest)?, file_size(path))))
            .collect::<Result<Vec<_>, StoreError>>()?;
        for ((digest, path), (problem, size)) in blobs.iter().zip(blob_results) {
            report.checked_objects += 1;
            report.checked_bytes += size;
            if let Some(problem) = problem {
                report
                    .problems
                    .push(quarantine(layout, ObjectKind::Blob, digest, path, problem)?);
            }
        }

        self.verify_trees(&mut report)?;
        self.verify_outputs(&mut report)?;
        Ok(report)
    }

    fn verify_trees(&self, report: &mut VerifyReport) -> Result<(), StoreError> {
        let layout = &self.layout;
        // First pass: every object on its own.
        let mut references: BTreeMap<Digest, (PathBuf, Vec<(String, DecodedKind)>)> =
            BTreeMap::new();
        for (digest, path) in list_fanned_out(&layout.trees(), "")? {
            let bytes = read_object(&path, ObjectKind::Tree, &digest)?;
            report.checked_objects += 1;
            report.checked_bytes += bytes.len() as u64;
            let decoded = if Digest::of(&bytes) == digest {
                decode_directory(&bytes).ok()
            } else {
                None
            };
            match decoded {
                Some(directory) => {
                    let entries = directory
                        .entries
                        .into_iter()
                        .map(|(name, kind, _)| (name.to_string(), kind))
                        .collect();
                    references.insert(digest, (path, entries));
                }
                None => report.problems.push(quarantine(
                    layout,
                    ObjectKind::Tree,
                    &digest,
                    &path,
                    "content does not match its digest".to_owned(),
                )?),
            }
        }
        // Second pass: a tree is broken if something it refers to is missing or broken.
        let mut broken: BTreeSet<Digest> = BTreeSet::new();
        loop {
            let mut newly_broken = Vec::new();
            for (digest, (path, entries)) in &references {
                if broken.contains(digest) {
                    continue;
                }
                let missing = entries.iter().find_map(|(name, kind)| match kind {
                    DecodedKind::Directory(child)
                        if broken.contains(child) || !references.contains_key(child) =>
                    {
                        Some(format!(
                            "subdirectory `{name}` ({child}) is missing or broken"
                        ))
                    }
                    DecodedKind::Leaf(EntryKind::File { blob, .. })
                        if !exists(&layout.blob(blob)) =>
                    {
                        Some(format!("file `{name}` refers to missing blob {blob}"))
                    }
                    _ => None,
                });
                if let Some(description) = missing {
                    newly_broken.push((*digest, path.clone(), description));
                }
            }
            if newly_broken.is_empty() {
                break;
            }
            for (digest, path, description) in newly_broken {
                broken.insert(digest);
                report.problems.push(quarantine(
                    layout,
                    ObjectKind::Tree,
                    &digest,
                    &path,
                    description,
                )?);
            }
        }
        Ok(())
    }

    fn verify_outputs(&self, report: &mut VerifyReport) -> Result<(), StoreError> {
        for index in OutputIndex::ALL {
            for (key, path) in list_fanned_out(&self.layout.outputs(index), "")? {
                let description = match self.read_record_file(&path, index, &key)? {
                    None => None,
                    Some(Decoded::Outdated) => {
                        remove_file_if_exists(&path)?;
                        report.outdated_records += 1;
                        None
                    }
                    Some(Decoded::Rejected(reason)) => Some(format!(
                        "record for {} {key} is not authentic: {reason}",
                        index_name(index)
                    )),
                    Some(Decoded::Authentic(record)) if !self.has_top_object(&record) => {
                        let (kind, digest) = record.top_object();
                        Some(format!("record points to missing {kind} {digest}"))
                    }
                    Some(Decoded::Authentic(_)) => None,
                };
                if let Some(description) = description {
                    remove_file_if_exists(&path)?;
                    report.problems.push(VerifyProblem {
                        kind: ObjectKind::Output,
                        digest: key,
                        path,
                        description,
                        quarantined_to: None,
                    });
                }
            }
        }
        Ok(())
    }
}
