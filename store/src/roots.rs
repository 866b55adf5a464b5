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
//! `{"format":"imgbuild-result-manifest","version":1,"entries":[{"name":…,"record":…}]}`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{IoResultExt, StoreError};
use crate::layout::{publish_file, remove_file_if_exists, sorted_names, INDEX_MODE};
use crate::output::OutputRecord;
use crate::Store;

const MANIFEST_FORMAT: &str = "imgbuild-result-manifest";
const MANIFEST_VERSION: u32 = 1;
const ROOT_VERSION: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    format: String,
    version: u32,
    entries: Vec<ManifestEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestEntry {
    name: String,
    record: OutputRecord,
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

    /// The explicit roots and their records, sorted by name.
    pub fn explicit_roots(&self) -> Result<Vec<(String, Vec<OutputRecord>)>, StoreError> {
        let directory = self.layout.explicit_roots();
        let mut roots = Vec::new();
        for name in sorted_names(&directory)? {
            if check_root_name(&name).is_err() {
                continue;
            }
            let path = directory.join(&name);
            let bytes = fs::read(&path).at("read", &path)?;
            let file: RootFile =
                serde_json::from_slice(&bytes).map_err(|error| StoreError::InvalidManifest {
                    path: path.clone(),
                    reason: error.to_string(),
                })?;
            if file.version != ROOT_VERSION {
                return Err(StoreError::InvalidManifest {
                    path,
                    reason: format!("unknown root version {}", file.version),
                });
            }
            roots.push((name, file.records));
        }
        Ok(roots)
    }

    /// Writes the result manifest at `manifest` and registers it as an automatic root.
    pub fn write_result_manifest(
        &self,
        manifest: &Path,
        entries: &[(String, OutputRecord)],
    ) -> Result<(), StoreError> {
        let manifest = absolute(manifest)?;
        let file = ManifestFile {
            format: MANIFEST_FORMAT.to_owned(),
            version: MANIFEST_VERSION,
            entries: entries
                .iter()
                .map(|(name, record)| ManifestEntry {
                    name: name.clone(),
                    record: record.clone(),
                })
                .collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file)
            .map_err(io::Error::other)
            .at("encode manifest", &manifest)?;
        bytes.push(b'\n');
        let parent = manifest.parent().unwrap_or(Path::new("/")).to_path_buf();
        fs::create_dir_all(&parent).at("create directory", &parent)?;
        publish_file(&manifest, INDEX_MODE, true, |out| out.write_all(&bytes))?;
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
}

pub(crate) fn read_manifest(manifest: &Path) -> Result<Vec<(String, OutputRecord)>, StoreError> {
    let bytes = fs::read(manifest).at("read", manifest)?;
    let invalid = |reason: String| StoreError::InvalidManifest {
        path: manifest.to_path_buf(),
        reason,
    };
    let file: ManifestFile =
        serde_json::from_slice(&bytes).map_err(|error| invalid(error.to_string()))?;
    if file.format != MANIFEST_FORMAT || file.version != MANIFEST_VERSION {
        return Err(invalid(format!(
            "unknown format `{}` version {}",
            file.format, file.version
        )));
    }
    Ok(file
        .entries
        .into_iter()
        .map(|entry| (entry.name, entry.record))
        .collect())
}

/// The automatic roots: `(link, manifest target)`.
pub(crate) fn auto_roots(store: &Store) -> Result<Vec<(PathBuf, PathBuf)>, StoreError> {
    let directory = store.layout.auto_roots();
    let mut links = Vec::new();
    for name in sorted_names(&directory)? {
        let link = directory.join(name);
        match fs::read_link(&link) {
            Ok(target) => links.push((link, target)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            // Not a symlink: not ours; leave it alone.
            Err(error) if error.kind() == io::ErrorKind::InvalidInput => {}
            Err(error) => return Err(error).at("read root link", &link),
        }
    }
    Ok(links)
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
