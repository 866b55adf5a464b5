//! The release manifest, `imgbuild-release.json`: what a release holds, by name, size
//! and digest, and where it came from. Endorsers sign its exact bytes.
//!
//! ```json
//! {
//!   "format": "imgbuild-release-v1",
//!   "name": "web",
//!   "tool": "imgbuild 0.1.0",
//!   "recipe": "9f2c…",
//!   "lock_sha256": "4b1a…",
//!   "source_date_epoch": 1700000000,
//!   "sbom": { "name": "web.spdx.json", "sha256": "…" },
//!   "outputs": [
//!     { "name": "web.qcow2", "format": "qcow2", "size": 1073741824,
//!       "sha256": "…", "sha512": "…", "files": [] },
//!     { "name": "web-oci", "format": "directory", "size": 5120, "sha256": "…", "sha512": "…",
//!       "files": [
//!         { "type": "directory", "path": "blobs" },
//!         { "type": "file", "path": "blobs/a", "size": 5120, "sha256": "…", "sha512": "…" },
//!         { "type": "symlink", "path": "latest", "target": "blobs/a" } ] }
//!   ]
//! }
//! ```
//!
//! **Canonical form.** [`Manifest::to_bytes`] writes serde_json's pretty form (two-space
//! indent) with the keys in the order above, `null` for an absent optional value, and a
//! final newline. The same manifest always gives the same bytes, so a second endorser
//! who rebuilds it produces the file the first one signed.
//!
//! **Rules checked by [`Manifest::parse`]** (and by [`Manifest::validate`]): `format` is
//! exactly [`FORMAT`]; no key is unknown or missing (`recipe`, `lock_sha256`, `sbom` and
//! `source_date_epoch` may be `null`); digests are lowercase hex of the right length
//! (`recipe` any non-empty lowercase hex); output names are unique plain file names (no
//! `/`, not `.` or `..`, no control characters); `files` is empty except for
//! `"directory"` outputs, and there its paths are relative, `/`-separated, without
//! empty, `.` or `..` components, strictly increasing in byte order.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ProvenanceError;

/// The value of `format` this library reads and writes.
pub const FORMAT: &str = "imgbuild-release-v1";

/// The `format` of an output that is a directory.
pub const DIRECTORY_FORMAT: &str = "directory";

/// A release manifest (see the module documentation for its JSON form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The release's name (usually the recipe's output name, `"web"`).
    pub name: String,
    /// The program that wrote the manifest and its version (`"imgbuild 0.1.0"`).
    pub tool: String,
    /// The recipe's identity, lowercase hex, when known.
    pub recipe: Option<String>,
    /// SHA-256 of the lock file the build used, lowercase hex, when there was one.
    pub lock_sha256: Option<String>,
    /// The `SOURCE_DATE_EPOCH` the build used, when set.
    pub source_date_epoch: Option<i64>,
    /// The output holding the release's SBOM, when there is one.
    pub sbom: Option<SbomReference>,
    /// The release's files and directories, in the order given.
    pub outputs: Vec<OutputEntry>,
}

/// Which output is the SBOM, and its SHA-256 (which must equal that output's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SbomReference {
    /// The output's name (`"web.spdx.json"`).
    pub name: String,
    /// The output's SHA-256, lowercase hex.
    pub sha256: String,
}

/// One output of a release: a file or a directory directly inside the result directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputEntry {
    /// Its file name in the result directory.
    pub name: String,
    /// Its file extension (`"qcow2"`, `"spdx.json"`, `"tar.gz"`), `"file"` without one,
    /// or [`DIRECTORY_FORMAT`]. Informational: verification does not check it.
    pub format: String,
    /// A file's size in bytes; for a directory, the sum of its regular files' sizes.
    pub size: u64,
    /// A file's SHA-256; for a directory, the SHA-256 of its listing (see
    /// [`crate::directory_listing`]). Lowercase hex.
    pub sha256: String,
    /// The same with SHA-512.
    pub sha512: String,
    /// For a directory, every entry below it, sorted by path; empty for a file.
    pub files: Vec<FileEntry>,
}

/// One entry below a directory output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum FileEntry {
    /// A regular file.
    File {
        /// Its path relative to the output, `/`-separated.
        path: String,
        /// Its size in bytes.
        size: u64,
        /// Its SHA-256, lowercase hex.
        sha256: String,
        /// Its SHA-512, lowercase hex.
        sha512: String,
    },
    /// A symbolic link (never followed).
    Symlink {
        /// Its path relative to the output, `/`-separated.
        path: String,
        /// What it points at, as stored in the link.
        target: String,
    },
    /// A directory (listed so that empty directories are recorded too).
    Directory {
        /// Its path relative to the output, `/`-separated.
        path: String,
    },
}

impl FileEntry {
    /// The entry's path relative to its output.
    pub fn path(&self) -> &str {
        match self {
            FileEntry::File { path, .. }
            | FileEntry::Symlink { path, .. }
            | FileEntry::Directory { path } => path,
        }
    }

    /// `"file"`, `"symlink"` or `"directory"`.
    pub fn kind(&self) -> &'static str {
        match self {
            FileEntry::File { .. } => "file",
            FileEntry::Symlink { .. } => "symlink",
            FileEntry::Directory { .. } => "directory",
        }
    }
}

impl Manifest {
    /// The canonical bytes: pretty JSON, keys in declaration order, a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing these types cannot fail: every map key is a string.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Reads a manifest strictly: unknown keys, another format version and values that
    /// break the rules of the module documentation are errors naming `path`.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Manifest, ProvenanceError> {
        #[derive(Deserialize)]
        struct FormatOnly {
            format: String,
        }
        // Read the format first, so a future version is reported as such and not as an
        // unknown key.
        if let Ok(FormatOnly { format }) = serde_json::from_slice::<FormatOnly>(bytes) {
            if format != FORMAT {
                return Err(ProvenanceError::ManifestFormat {
                    path: path.to_path_buf(),
                    found: format,
                    expected: FORMAT,
                });
            }
        }
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|error| ProvenanceError::ManifestSyntax {
                path: path.to_path_buf(),
                message: error.to_string(),
            })?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Checks the rules of the module documentation; `path` is used in errors only.
    pub fn validate(&self, path: &Path) -> Result<(), ProvenanceError> {
        let field_error = |field: String, message: String| ProvenanceError::ManifestField {
            path: path.to_path_buf(),
            field,
            message,
        };
        if self.format != FORMAT {
            return Err(ProvenanceError::ManifestFormat {
                path: path.to_path_buf(),
                found: self.format.clone(),
                expected: FORMAT,
            });
        }
        if self.name.is_empty() {
            return Err(field_error("name".into(), "is empty".into()));
        }
        if let Some(recipe) = &self.recipe {
            check_hex(recipe, None).map_err(|message| field_error("recipe".into(), message))?;
        }
        if let Some(lock) = &self.lock_sha256 {
            check_hex(lock, Some(64))
                .map_err(|message| field_error("lock_sha256".into(), message))?;
        }
        if let Some(sbom) = &self.sbom {
            check_hex(&sbom.sha256, Some(64))
                .map_err(|message| field_error("sbom.sha256".into(), message))?;
        }
        let mut names = std::collections::BTreeSet::new();
        for (index, output) in self.outputs.iter().enumerate() {
            let field = |name: &str| format!("outputs[{index}].{name}");
            check_output_name(&output.name)
                .map_err(|reason| field_error(field("name"), reason.into()))?;
            if !names.insert(output.name.as_str()) {
                return Err(field_error(
                    field("name"),
                    format!("{:?} is listed twice", output.name),
                ));
            }
            check_hex(&output.sha256, Some(64))
                .map_err(|message| field_error(field("sha256"), message))?;
            check_hex(&output.sha512, Some(128))
                .map_err(|message| field_error(field("sha512"), message))?;
            if output.format != DIRECTORY_FORMAT && !output.files.is_empty() {
                return Err(field_error(
                    field("files"),
                    "must be empty for an output that is not a directory".into(),
                ));
            }
            let mut previous: Option<&str> = None;
            for (file_index, entry) in output.files.iter().enumerate() {
                let entry_field = format!("outputs[{index}].files[{file_index}]");
                check_relative_path(entry.path())
                    .map_err(|reason| field_error(format!("{entry_field}.path"), reason.into()))?;
                if previous.is_some_and(|previous| previous.as_bytes() >= entry.path().as_bytes()) {
                    return Err(field_error(
                        format!("{entry_field}.path"),
                        "paths must be unique and sorted by byte order".into(),
                    ));
                }
                previous = Some(entry.path());
                if let FileEntry::File { sha256, sha512, .. } = entry {
                    check_hex(sha256, Some(64))
                        .map_err(|message| field_error(format!("{entry_field}.sha256"), message))?;
                    check_hex(sha512, Some(128))
                        .map_err(|message| field_error(format!("{entry_field}.sha512"), message))?;
                }
            }
        }
        Ok(())
    }
}

/// Checks that `name` is a plain file name an output may have (see the module rules).
pub fn check_output_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("is empty")
    } else if name == "." || name == ".." {
        Err("must not be `.` or `..`")
    } else if name.contains('/') {
        Err("must be a file name, without `/`")
    } else if name.chars().any(char::is_control) {
        Err("must not contain control characters")
    } else {
        Ok(())
    }
}

/// Checks a path below a directory output: relative, `/`-separated, no empty, `.` or
/// `..` components.
fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path.starts_with('/') {
        return Err("must be relative");
    }
    if path.contains('\0') {
        return Err("must not contain NUL");
    }
    if path
        .split('/')
        .any(|component| component.is_empty() || component == "." || component == "..")
    {
        return Err("must not have empty, `.` or `..` components");
    }
    Ok(())
}

/// Checks lowercase hex, of `length` characters when given.
fn check_hex(text: &str, length: Option<usize>) -> Result<(), String> {
    if text.is_empty()
        || !text
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(format!("{text:?} is not lowercase hexadecimal"));
    }
    match length {
        Some(length) if text.len() != length => Err(format!(
            "{text:?} has {} hex digits, expected {length}",
            text.len()
        )),
        _ => Ok(()),
    }
}
