//! GC roots: explicit named roots and result manifests.
//!
//! * `roots/explicit/<name>` holds a versioned JSON list of output records,
//!   written by [`Store::add_root`].
//! * [`Store::write_result_manifest`] writes a manifest file next to the build
//!   results (e.g. `result/.imgbuild-manifest`) and registers it as an
//!   automatic root: `roots/auto/<BLAKE3 of the manifest's absolute path>` is a
//!   symlink to it. When the manifest is deleted (the user removed `result/`),
//!   GC finds the link dangling, removes it, and collects the outputs.
//!
//! Manifest format (JSON):
//! `{"format":"imgbuild-result-manifest","version":2,"entries":[{"name":…,"record":…,"written":…}]}`,
//! where `written` (optional) is the result's state on disk when it was written
//! ([`crate::result_dir::Written`]), which lets a no-op build check it cheaply.
//! Version 1 (the same without `written`) is still read.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{IoResultExt, StoreError};
use crate::layout::{publish_file, remove_file_if_exists, INDEX_MODE};
use crate::output::OutputRecord;
use crate::result_dir::ResultEntry;
use crate::Store;

const MANIFEST_FORMAT: &str = "imgbuild-result-manifest";
const MANIFEST_VERSION: u32 = 2;
/// Mode of a result manifest (see [`Store::write_result_entries`]).
const MANIFEST_MODE: u32 = 0o600;
/// The oldest manifest version still read (it lacks the `written` state).
const OLDEST_MANIFEST_VERSION: u32 = 1;
const ROOT_VERSION: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    format: String,
    version: u32,
    entries: Vec<ResultEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RootFile {
    version: u32,
    records: Vec<OutputRecord>,
}

/// Checks an explicit root name: `[A-Za-z0-9._-]`, 1..=128 characters, not starting with `.`.
fn check_root_name(name: &str) -> Result<(), StoreError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidRootName {
            name: name.to_owned(),
        })
    }
}

/// `path` made absolute, with its parent directory resolved (the file itself need not exist).
fn absolute(path: &Path) -> Result<PathBuf, StoreError> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .at("find the current directory for", path)?
            .join(path)
    };
    match (joined.parent(), joined.file_name()) {
        (Some(parent), Some(name)) => match fs::canonicalize(parent) {
            Ok(parent) => Ok(parent.join(name)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(joined),
            Err(error) => Err(error).at("resolve", parent),
        },
        _ => Ok(joined),
    }
}

impl Store {
    /// Creates or replaces the explicit root `name` holding `records`.
    pub fn add_root(&self, name: &str, records: &[OutputRecord]) -> Result<(), StoreError> {
        check_root_name(name)?;
        let file = RootFile {
            version: ROOT_VERSION,
            records: records.to_vec(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(io::Error::other);
        let path = self.layout.explicit_roots().join(name);
        let bytes = bytes.at("encode root", &path)?;
        publish_file(&path, INDEX_MODE, true, |out| out.write_all(&bytes))?;
        Ok(())
    }

    /// Removes the explicit root `name` (absent is fine).
    pub fn remove_root(&self, name: &str) -> Result<(), StoreError> {
        check_root_name(name)?;
        remove_file_if_exists(&self.layout.explicit_roots().join(name))?;
        Ok(())
    }

    /// The explicit roots, sorted by path: each root file with its records, or why it
    /// cannot be read (a directory, an unreadable or malformed file, a name
    /// [`Store::add_root`] would not give, a symlink to nothing). Temporary files of a
    /// root being written (`.publish-*`) are not roots. Only listing the directory can
    /// fail as a whole.
    #[allow(clippy::type_complexity)]
    pub fn explicit_roots(
        &self,
    ) -> Result<Vec<(PathBuf, Result<Vec<OutputRecord>, StoreError>)>, StoreError> {
        let directory = self.layout.explicit_roots();
        let listing = match fs::read_dir(&directory) {
            Ok(listing) => listing,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error).at("list directory", &directory),
        };
        let mut paths = Vec::new();
        for entry in listing {
            let entry = entry.at("list directory", &directory)?;
            let name = entry.file_name();
            let temporary = crate::layout::TEMPORARY_PREFIX.as_bytes();
            if !name.as_encoded_bytes().starts_with(temporary) {
                paths.push(entry.path());
            }
        }
        paths.sort();
        let read = |path: &Path| -> Result<Vec<OutputRecord>, StoreError> {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            check_root_name(&name)?;
            let bytes = fs::read(path).at("read", path)?;
            let invalid = |reason: String| StoreError::InvalidManifest {
                path: path.to_path_buf(),
                reason,
            };
            let file: RootFile =
                serde_json::from_slice(&bytes).map_err(|error| invalid(error.to_string()))?;
            if file.version != ROOT_VERSION {
                return Err(invalid(format!("unknown root version {}", file.version)));
            }
            Ok(file.records)
        };
        let mut roots = Vec::new();
        for path in paths {
            let records = read(&path);
            // Removed since it was listed (`remove_root` running now): not a root.
            let vanished = matches!(&records, Err(error) if crate::error::is_not_found(error))
                && fs::symlink_metadata(&path).is_err();
            if !vanished {
                roots.push((path, records));
            }
        }
        Ok(roots)
    }

    /// Writes the result manifest at `manifest` and registers it as an automatic root.
    pub fn write_result_manifest(
        &self,
        manifest: &Path,
        entries: &[(String, OutputRecord)],
    ) -> Result<(), StoreError> {
        let entries: Vec<ResultEntry> = entries
            .iter()
            .map(|(name, record)| ResultEntry {
                name: name.clone(),
                record: record.clone(),
                written: None,
                provenance: None,
            })
            .collect();
        self.write_result_entries(manifest, &entries)
    }

    /// Writes the result manifest at `manifest`, with each result's state on disk, and
    /// registers it as an automatic root.
    pub fn write_result_entries(
        &self,
        manifest: &Path,
        entries: &[ResultEntry],
    ) -> Result<(), StoreError> {
        let manifest = absolute(manifest)?;
        let file = ManifestFile {
            format: MANIFEST_FORMAT.to_owned(),
            version: MANIFEST_VERSION,
            entries: entries.to_vec(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file)
            .map_err(io::Error::other)
            .at("encode manifest", &manifest)?;
        bytes.push(b'\n');
        let parent = manifest.parent().unwrap_or(Path::new("/")).to_path_buf();
        fs::create_dir_all(&parent).at("create directory", &parent)?;
        // Owner-only: it names the content digest of every result, and for a secret
        // one that digest would let other users check guesses of its content.
        publish_file(&manifest, MANIFEST_MODE, true, |out| out.write_all(&bytes))?;
        self.register_auto_root(&manifest)
    }

    /// Makes sure the manifest at `manifest` (already written) is registered as an
    /// automatic root of this store; cheap when it already is (one `readlink`).
    pub fn ensure_result_root(&self, manifest: &Path) -> Result<(), StoreError> {
        let manifest = absolute(manifest)?;
        self.register_auto_root(&manifest)
    }

    fn register_auto_root(&self, manifest: &Path) -> Result<(), StoreError> {
        let name = Digest::of(manifest.as_os_str().as_encoded_bytes()).to_hex();
        let link = self.layout.auto_roots().join(name);
        if fs::read_link(&link).is_ok_and(|target| target == manifest) {
            return Ok(());
        }
        let temporary = self.layout.tmp().join(format!(
            "{}root-{}-{}",
            crate::layout::TEMPORARY_PREFIX,
            std::process::id(),
            Digest::of(link.as_os_str().as_encoded_bytes()).short()
        ));
        let _ = fs::remove_file(&temporary);
        std::os::unix::fs::symlink(manifest, &temporary).at("create symlink", &temporary)?;
        if let Err(error) = fs::rename(&temporary, &link) {
            let _ = fs::remove_file(&temporary);
            return Err(error).at("register root", &link);
        }
        Ok(())
    }

    /// Reads a result manifest written by [`Store::write_result_manifest`].
    pub fn read_result_manifest(
        &self,
        manifest: &Path,
    ) -> Result<Vec<(String, OutputRecord)>, StoreError> {
        read_manifest(manifest)
    }

    /// Reads a result manifest with each result's state on disk (absent for entries
    /// of a version 1 manifest).
    pub fn read_result_entries(&self, manifest: &Path) -> Result<Vec<ResultEntry>, StoreError> {
        read_manifest_entries(manifest)
    }
}

pub(crate) fn read_manifest(manifest: &Path) -> Result<Vec<(String, OutputRecord)>, StoreError> {
    Ok(read_manifest_entries(manifest)?
        .into_iter()
        .map(|entry| (entry.name, entry.record))
        .collect())
}

/// Reads a result directory's manifest (`.imgbuild-manifest`) without a store: what
/// `imgbuild sign` and `imgbuild diff` learn about the results in a directory.
pub fn read_result_manifest(manifest: &Path) -> Result<Vec<ResultEntry>, StoreError> {
    read_manifest_entries(manifest)
}

fn read_manifest_entries(manifest: &Path) -> Result<Vec<ResultEntry>, StoreError> {
    let bytes = fs::read(manifest).at("read", manifest)?;
    let invalid = |reason: String| StoreError::InvalidManifest {
        path: manifest.to_path_buf(),
        reason,
    };
    let file: ManifestFile =
        serde_json::from_slice(&bytes).map_err(|error| invalid(error.to_string()))?;
    if file.format != MANIFEST_FORMAT
        || !(OLDEST_MANIFEST_VERSION..=MANIFEST_VERSION).contains(&file.version)
    {
        return Err(invalid(format!(
            "unknown format `{}` version {}",
            file.format, file.version
        )));
    }
    if file.version == OLDEST_MANIFEST_VERSION
        && file.entries.iter().any(|entry| entry.written.is_some())
    {
        return Err(invalid(
            "a version 1 manifest cannot record `written`".to_owned(),
        ));
    }
    Ok(file.entries)
}

/// The automatic roots: each entry of `roots/auto/` with the manifest its symlink
/// points to, or why it cannot be read as a symlink (a file or directory put there by
/// hand). Only listing the directory can fail as a whole.
#[allow(clippy::type_complexity)]
pub(crate) fn auto_roots(
    store: &Store,
) -> Result<Vec<(PathBuf, Result<PathBuf, StoreError>)>, StoreError> {
    let directory = store.layout.auto_roots();
    let listing = match fs::read_dir(&directory) {
        Ok(listing) => listing,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).at("list directory", &directory),
    };
    let mut links = Vec::new();
    for entry in listing {
        links.push(entry.at("list directory", &directory)?.path());
    }
    links.sort();
    let mut roots = Vec::new();
    for link in links {
        match fs::read_link(&link) {
            Ok(target) => roots.push((link, Ok(target))),
            // Removed since it was listed: not a root any more.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                let error = Err(error).at("read root link", &link);
                roots.push((link, error));
            }
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_names_are_checked() {
        for good in ["web", "web-2024.01_a"] {
            assert!(check_root_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "..", "spaces here", &"x".repeat(129)] {
            assert!(check_root_name(bad).is_err(), "{bad}");
        }
    }
}
