//! The `libraries` section of the project's lock file: for every library of the
//! resolved graph, the source as written (canonical form, [`crate::Source`]'s
//! `Display`), the exact commit, the version and the content hash of its tree.
//!
//! The caller keeps this section as the top-level key `"libraries"` of its JSON lock
//! file (two-space indentation, a final newline); this module provides the type, its
//! (de)serialization and the comparison with a manifest.
//!
//! ```text
//! "libraries": [
//!   { "name": "base", "source": "git+https://git.example.org/base.git?version=^1.4",
//!     "commit": "3f2c…", "version": "1.5.2", "hash": "blake3:…" }
//! ]
//! ```
//!
//! **Invariants:** entries are sorted by name and names are unique (a [`LockSection`]
//! built by [`LockSection::from_resolution`] or read by [`LockSection::from_json`]
//! always is); serializing the same section twice gives identical bytes; optional
//! fields are left out rather than written as `null`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{LibraryError, Result};
use crate::manifest::Manifest;
use crate::resolve::Resolution;

/// One locked library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedLibrary {
    /// The library's name (the key in `[libraries]`).
    pub name: String,
    /// The source as written, canonical form.
    pub source: String,
    /// The exact commit (git sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The version (from the tag, else the library's `[library] version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The content hash of the library's tree, `blake3:<hex>`.
    pub hash: String,
}

/// The `libraries` section: a sorted list of [`LockedLibrary`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LockSection {
    libraries: Vec<LockedLibrary>,
}

impl<'de> Deserialize<'de> for LockSection {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let libraries = Vec::<LockedLibrary>::deserialize(deserializer)?;
        let mut by_name = BTreeMap::new();
        for library in libraries {
            let name = library.name.clone();
            if by_name.insert(name.clone(), library).is_some() {
                return Err(serde::de::Error::custom(format!(
                    "library `{name}` is locked twice"
                )));
            }
        }
        Ok(LockSection {
            libraries: by_name.into_values().collect(),
        })
    }
}

impl LockSection {
    /// A section holding `libraries` (sorted by name; a later duplicate replaces an
    /// earlier one).
    pub fn new(libraries: impl IntoIterator<Item = LockedLibrary>) -> LockSection {
        let by_name: BTreeMap<String, LockedLibrary> = libraries
            .into_iter()
            .map(|library| (library.name.clone(), library))
            .collect();
        LockSection {
            libraries: by_name.into_values().collect(),
        }
    }

    /// The section recording `resolution`. A library forced by an override
    /// (`--override NAME=PATH`) does not touch the lock: its `previous` entry, if any,
    /// is kept, and otherwise it is left out.
    pub fn from_resolution(resolution: &Resolution, previous: Option<&LockSection>) -> LockSection {
        LockSection::new(resolution.libraries.iter().filter_map(|(name, resolved)| {
            if resolved.overridden {
                return previous.and_then(|lock| lock.get(name)).cloned();
            }
            Some(LockedLibrary {
                name: name.clone(),
                source: resolved.source.to_string(),
                commit: resolved.commit.clone(),
                version: resolved.version.as_ref().map(ToString::to_string),
                hash: resolved.hash.clone(),
            })
        }))
    }

    /// The entries, sorted by name.
    pub fn libraries(&self) -> &[LockedLibrary] {
        &self.libraries
    }

    /// The entry for `name`.
    pub fn get(&self, name: &str) -> Option<&LockedLibrary> {
        self.libraries
            .binary_search_by(|library| library.name.as_str().cmp(name))
            .ok()
            .map(|index| &self.libraries[index])
    }

    /// The section as JSON, two-space indented, with a final newline (as a file of its
    /// own; the caller embedding it in its lock file serializes the value directly).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_else(|_| "[]".to_owned());
        text.push('\n');
        text
    }

    /// Reads a section written by [`LockSection::to_json`] (or the value of the lock
    /// file's `"libraries"` key).
    pub fn from_json(text: &str) -> Result<LockSection> {
        serde_json::from_str(text).map_err(LibraryError::LockFormat)
    }

    /// Checks that every library the root `manifest` names directly (after its
    /// `[patch]` section) is locked with the same source as written: the first
    /// difference is a [`LibraryError::LockMismatch`]. Transitive libraries are checked
    /// by [`crate::resolve()`], which reads their manifests.
    pub fn check_manifest(&self, manifest: &Manifest) -> Result<()> {
        for (name, entry) in &manifest.libraries {
            let entry = manifest.patches.get(name).unwrap_or(entry);
            let wanted = entry.source.to_string();
            let locked = self.get(name).map(|library| library.source.clone());
            if locked.as_deref() != Some(wanted.as_str()) {
                return Err(LibraryError::LockMismatch {
                    name: name.clone(),
                    manifest_source: wanted,
                    locked_source: locked,
                });
            }
        }
        Ok(())
    }

    /// True when [`LockSection::check_manifest`] finds nothing to object to.
    pub fn matches_manifest(&self, manifest: &Manifest) -> bool {
        self.check_manifest(manifest).is_ok()
    }
}
