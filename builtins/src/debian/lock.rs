//! The lock file, `RECIPE.lock` next to the recipe (`web.rhai` → `web.lock`): for every
//! package set, the request it answers, the repositories' signed `Release` data and
//! index digests it was resolved from, and every package with name, version,
//! architecture, file name, size and SHA-256. Builds use it, so the same recipe builds
//! the same bytes next month.
//!
//! Format `imgbuild-lock-v1`, JSON with a fixed field order, sets sorted by name and
//! packages by name, two-space indentation and a final newline — so diffs are small and
//! two lock runs over the same indices give identical bytes. No mirror is recorded:
//! where packages come from is a build-time choice (`--mirror`, host apt sources);
//! what they are is pinned by their SHA-256.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The format tag on the first line.
pub const FORMAT: &str = "imgbuild-lock-v1";

/// A whole lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// Package sets, sorted by name.
    pub sets: Vec<LockedSet>,
}

/// One resolved package set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedSet {
    /// The set's name (the `name` argument of `debian::packages`).
    pub name: String,
    /// BLAKE3 of the canonical request; a changed request makes the entry stale.
    pub request: String,
    /// Target architecture.
    pub architecture: String,
    /// The repositories, in the request's order.
    pub repositories: Vec<LockedRepository>,
    /// The packages, sorted by name.
    pub packages: Vec<LockedPackage>,
}

/// A repository (one suite) as it was when the set was resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedRepository {
    /// The suite as requested (`bookworm-security`).
    pub suite: String,
    /// `Codename` from its Release.
    pub codename: String,
    /// `Date` from its Release (ISO 8601, UTC).
    pub date: String,
    /// SHA-256 of the signed Release text.
    pub release_sha256: String,
    /// Fingerprint of the key that signed it ("" for a repository marked trusted).
    pub signed_by: String,
    /// The `Packages` indices used.
    pub indices: Vec<LockedIndex>,
}

/// One `Packages` index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedIndex {
    /// Path below `dists/<suite>/`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256.
    pub sha256: String,
}

/// One package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedPackage {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture (`amd64`, `all`).
    pub architecture: String,
    /// Index into the set's repositories.
    pub repository: usize,
    /// Path below the repository's base URI.
    pub filename: String,
    /// Size of the `.deb`.
    pub size: u64,
    /// SHA-256 of the `.deb`.
    pub sha256: String,
}

/// A lock file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not a lock file of a known format.
    #[error("{path} is not an imgbuild lock file ({reason}); delete it and run `imgbuild lock` to write a new one")]
    Format {
        /// The lock file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// `web.rhai` → `web.lock`.
pub fn path_for(recipe: &Path) -> PathBuf {
    recipe.with_extension("lock")
}

impl LockFile {
    /// An empty lock file.
    pub fn new() -> LockFile {
        LockFile {
            format: FORMAT.to_owned(),
            sets: Vec::new(),
        }
    }

    /// Reads `path`; a missing file is `Ok(None)`.
    pub fn read(path: &Path) -> Result<Option<LockFile>, LockError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(LockError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let lock: LockFile = serde_json::from_str(&text).map_err(|error| LockError::Format {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
        if lock.format != FORMAT {
            return Err(LockError::Format {
                path: path.to_path_buf(),
                reason: format!("format `{}`, expected `{FORMAT}`", lock.format),
            });
        }
        Ok(Some(lock))
    }

    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut sorted = self.clone();
        sorted
            .sets
            .sort_by(|left, right| left.name.cmp(&right.name));
        for set in &mut sorted.sets {
            set.packages
                .sort_by(|left, right| left.name.cmp(&right.name));
        }
        let mut bytes = serde_json::to_vec_pretty(&sorted).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Writes atomically (temporary file next to it, then rename).
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let directory = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty());
        let mut temporary =
            tempfile::NamedTempFile::new_in(directory.unwrap_or(Path::new("."))).map_err(io)?;
        std::io::Write::write_all(&mut temporary, &self.to_bytes()).map_err(io)?;
        temporary.persist(path).map_err(|error| io(error.error))?;
        Ok(())
    }

    /// The set called `name`.
    pub fn set(&self, name: &str) -> Option<&LockedSet> {
        self.sets.iter().find(|set| set.name == name)
    }

    /// Adds or replaces the set with `set.name`.
    pub fn upsert(&mut self, set: LockedSet) {
        self.sets.retain(|existing| existing.name != set.name);
        self.sets.push(set);
    }
}

impl Default for LockFile {
    fn default() -> Self {
        LockFile::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LockFile {
        let mut lock = LockFile::new();
        lock.upsert(LockedSet {
            name: "web".to_owned(),
            request: "ab".to_owned(),
            architecture: "amd64".to_owned(),
            repositories: vec![LockedRepository {
                suite: "bookworm".to_owned(),
                codename: "bookworm".to_owned(),
                date: "2026-11-08T10:00:00Z".to_owned(),
                release_sha256: "00".to_owned(),
                signed_by: "F00D".to_owned(),
                indices: vec![LockedIndex {
                    path: "main/binary-amd64/Packages.xz".to_owned(),
                    size: 1,
                    sha256: "11".to_owned(),
                }],
            }],
            packages: vec![
                LockedPackage {
                    name: "zlib1g".to_owned(),
                    version: "1:1.2.13.dfsg-1".to_owned(),
                    architecture: "amd64".to_owned(),
                    repository: 0,
                    filename: "pool/main/z/zlib/zlib1g_1.2.13.dfsg-1_amd64.deb".to_owned(),
                    size: 2,
                    sha256: "22".to_owned(),
                },
                LockedPackage {
                    name: "adduser".to_owned(),
                    version: "3.134".to_owned(),
                    architecture: "all".to_owned(),
                    repository: 0,
                    filename: "pool/main/a/adduser/adduser_3.134_all.deb".to_owned(),
                    size: 3,
                    sha256: "33".to_owned(),
                },
            ],
        });
        lock
    }

    #[test]
    fn round_trips_sorted_and_rejects_other_formats() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("web.lock");
        sample().write(&path).expect("writes");
        let text = std::fs::read_to_string(&path).expect("reads");
        assert!(
            text.starts_with("{\n  \"format\": \"imgbuild-lock-v1\""),
            "{text}"
        );
        assert!(text.find("adduser").expect("a") < text.find("zlib1g").expect("z"));
        let read = LockFile::read(&path).expect("parses").expect("exists");
        assert_eq!(read.to_bytes(), sample().to_bytes());
        std::fs::write(&path, text.replace("imgbuild-lock-v1", "imgbuild-lock-v9"))
            .expect("writes");
        let error = LockFile::read(&path)
            .expect_err("unknown format")
            .to_string();
        assert!(error.contains("imgbuild-lock-v9"), "{error}");
        assert!(LockFile::read(&directory.path().join("missing.lock"))
            .expect("ok")
            .is_none());
        assert_eq!(
            path_for(Path::new("recipes/web.rhai")),
            Path::new("recipes/web.lock")
        );
    }
}
