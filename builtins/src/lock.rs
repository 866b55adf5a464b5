//! The lock file, `RECIPE.lock` next to the recipe (`web.rhai` → `web.lock`): what an
//! evaluation could not decide by itself, pinned, one section per kind of request.
//!
//! Evaluation reads the lock file and never writes it. What the lock does not answer
//! comes back from evaluation as pending requests; `imgbuild lock` (and `imgbuild
//! build`, by itself) resolves them, writes the file and evaluates again.
//!
//! Format `imgbuild-lock-v2`: JSON, two-space indentation, a final newline, fields in a
//! fixed order, every list sorted — so diffs are small and resolving the same inputs
//! twice gives identical bytes:
//!
//! ```text
//! {
//!   "format": "imgbuild-lock-v2",
//!   "debian": { "sets": [ ... ] },       package sets (crate::debian::lock)
//!   "libraries": [ ... ]                 recipe libraries (imgbuild_libraries::lock)
//! }
//! ```
//!
//! New sections are new top-level keys; a reader ignores none (an older imgbuild
//! refuses a file with a section it does not know rather than drop it) and a missing
//! section is empty; an empty `libraries` section is not written. `imgbuild-lock-v1` files (the `debian` sets at top level)
//! are read and rewritten as v2.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use imgbuild_libraries::LockSection;

use crate::debian::lock::{DebianSection, LockedSet};

/// The format tag written today.
pub const FORMAT: &str = "imgbuild-lock-v2";
/// The previous format, still read.
pub const FORMAT_V1: &str = "imgbuild-lock-v1";

/// A whole lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    /// Always [`FORMAT`] once read.
    pub format: String,
    /// Debian package sets.
    #[serde(default)]
    pub debian: DebianSection,
    /// Recipe libraries (a project's `imgbuild.lock`).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub libraries: LockSection,
}

fn is_empty(section: &LockSection) -> bool {
    section.libraries().is_empty()
}

/// A v1 file: the Debian sets at top level.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFileV1 {
    #[serde(rename = "format")]
    _format: String,
    sets: Vec<LockedSet>,
}

/// Which locked entries `imgbuild lock --update` resolves again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Update {
    /// None: use the lock.
    #[default]
    Nothing,
    /// Every entry.
    All,
    /// The entry with this name.
    Set(String),
}

impl Update {
    /// True when the entry `name` must be resolved again.
    pub fn wants(&self, name: &str) -> bool {
        match self {
            Update::Nothing => false,
            Update::All => true,
            Update::Set(only) => only == name,
        }
    }
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

impl Default for LockFile {
    fn default() -> Self {
        LockFile {
            format: FORMAT.to_owned(),
            debian: DebianSection::default(),
            libraries: LockSection::default(),
        }
    }
}

impl LockFile {
    /// Reads `path`; a missing file is an empty lock.
    pub fn read(path: &Path) -> Result<LockFile, LockError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(LockFile::default())
            }
            Err(source) => {
                return Err(LockError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        LockFile::parse(&text).map_err(|reason| LockError::Format {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses lock file text of format v2 or v1.
    pub fn parse(text: &str) -> Result<LockFile, String> {
        #[derive(Deserialize)]
        struct Tag {
            format: String,
        }
        let tag: Tag = serde_json::from_str(text).map_err(|error| error.to_string())?;
        match tag.format.as_str() {
            FORMAT => serde_json::from_str(text).map_err(|error| error.to_string()),
            FORMAT_V1 => {
                let old: LockFileV1 =
                    serde_json::from_str(text).map_err(|error| error.to_string())?;
                Ok(LockFile {
                    format: FORMAT.to_owned(),
                    debian: DebianSection { sets: old.sets },
                    libraries: LockSection::default(),
                })
            }
            other => Err(format!("format `{other}`, expected `{FORMAT}`")),
        }
    }

    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut sorted = self.clone();
        sorted.format = FORMAT.to_owned();
        sorted.debian.sort();
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::lock::{LockedIndex, LockedPackage, LockedRepository};

    fn sample() -> LockFile {
        let mut lock = LockFile::default();
        lock.debian.upsert(LockedSet {
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

    /// The byte layout of format v2, field by field (a change here is a format change).
    const GOLDEN: &str = r#"{
  "format": "imgbuild-lock-v2",
  "debian": {
    "sets": [
      {
        "name": "web",
        "request": "ab",
        "architecture": "amd64",
        "repositories": [
          {
            "suite": "bookworm",
            "codename": "bookworm",
            "date": "2026-11-08T10:00:00Z",
            "release_sha256": "00",
            "signed_by": "F00D",
            "indices": [
              {
                "path": "main/binary-amd64/Packages.xz",
                "size": 1,
                "sha256": "11"
              }
            ]
          }
        ],
        "packages": [
          {
            "name": "adduser",
            "version": "3.134",
            "architecture": "all",
            "repository": 0,
            "filename": "pool/main/a/adduser/adduser_3.134_all.deb",
            "size": 3,
            "sha256": "33"
          },
          {
            "name": "zlib1g",
            "version": "1:1.2.13.dfsg-1",
            "architecture": "amd64",
            "repository": 0,
            "filename": "pool/main/z/zlib/zlib1g_1.2.13.dfsg-1_amd64.deb",
            "size": 2,
            "sha256": "22"
          }
        ]
      }
    ]
  }
}
"#;

    #[test]
    fn version_2_bytes_are_golden_and_version_1_is_read() {
        assert_eq!(String::from_utf8_lossy(&sample().to_bytes()), GOLDEN);
        let golden = blake3::hash(GOLDEN.as_bytes()).to_hex().to_string();
        assert_eq!(
            golden, "4eb597d48396421c07cd9d97c6c5d7f3aa8f8662ed9167834c1b09314183496f",
            "the lock file bytes changed: bump the format"
        );
        // A v1 file: the same sets at top level.
        let mut value: serde_json::Value = serde_json::from_str(GOLDEN).expect("json");
        let sets = value["debian"]["sets"].take();
        let v1 = serde_json::json!({ "format": FORMAT_V1, "sets": sets }).to_string();
        let read = LockFile::parse(&v1).expect("v1 parses");
        assert_eq!(read.to_bytes(), sample().to_bytes());
        let unknown = GOLDEN.replace("\"debian\"", "\"debain\"");
        assert!(
            LockFile::parse(&unknown).is_err(),
            "an unknown section is refused"
        );
    }

    #[test]
    fn round_trips_sorted_and_rejects_other_formats() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("web.lock");
        sample().write(&path).expect("writes");
        let text = std::fs::read_to_string(&path).expect("reads");
        assert!(
            text.starts_with("{\n  \"format\": \"imgbuild-lock-v2\""),
            "{text}"
        );
        assert!(text.find("adduser").expect("a") < text.find("zlib1g").expect("z"));
        let read = LockFile::read(&path).expect("parses");
        assert_eq!(read.to_bytes(), sample().to_bytes());
        std::fs::write(&path, text.replace("imgbuild-lock-v2", "imgbuild-lock-v9"))
            .expect("writes");
        let error = LockFile::read(&path)
            .expect_err("unknown format")
            .to_string();
        assert!(error.contains("imgbuild-lock-v9"), "{error}");
        assert_eq!(
            LockFile::read(&directory.path().join("missing.lock")).expect("ok"),
            LockFile::default()
        );
        assert_eq!(
            path_for(Path::new("recipes/web.rhai")),
            Path::new("recipes/web.lock")
        );
    }
}
