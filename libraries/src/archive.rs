//! Archive sources: a tar archive (plain or gzip-compressed) downloaded over HTTP(S)
//! or read from a `file://` URL through the caller's [`Download`], checked against the SHA-256 the manifest gives, and
//! unpacked into a plain directory.
//!
//! As for every fixed-output fetch in imgbuild, the SHA-256 is the identity and the
//! URL only a location: two requirements naming the same SHA-256 agree whatever their
//! URLs. An archive whose entries all sit in one top-level directory (`net-lib-2.1/…`,
//! the usual release tarball) has that directory as its library root.
//!
//! **Invariants:** nothing is unpacked before the whole download matched its SHA-256;
//! downloads are capped at [`MAX_ARCHIVE_BYTES`]; unpacking never writes outside the
//! target directory (the `tar` crate refuses `..` and absolute entries); a download
//! that fails is [`LibraryError::Unreachable`], an environment error.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{IoResultExt, LibraryError, Result};

/// The largest archive downloaded (a recipe library is text; this is generous).
pub const MAX_ARCHIVE_BYTES: u64 = 256 * 1024 * 1024;

/// How archive sources are downloaded: the caller's one download path (imgbuild passes
/// its HTTP client, with its retries, redirects and credential handling), so this crate
/// has none of its own.
pub trait Download {
    /// The bytes at `url` (`http`, `https` or `file`), at most `limit` of them; an error
    /// says why the location did not serve them (an environment error).
    fn get(&self, url: &str, limit: u64) -> std::result::Result<Vec<u8>, String>;
}

/// The bytes at `url`, which must hash to `sha256` (hexadecimal). `name` is the
/// library, for errors.
pub fn download(name: &str, url: &str, sha256: &str, downloader: &dyn Download) -> Result<Vec<u8>> {
    let bytes =
        downloader
            .get(url, MAX_ARCHIVE_BYTES)
            .map_err(|stderr| LibraryError::Unreachable {
                url: url.to_owned(),
                stderr,
            })?;
    if bytes.len() as u64 > MAX_ARCHIVE_BYTES {
        return Err(LibraryError::Unreachable {
            url: url.to_owned(),
            stderr: format!("larger than the {MAX_ARCHIVE_BYTES}-byte limit for a library archive"),
        });
    }
    let actual = hex_digest(&bytes);
    if !actual.eq_ignore_ascii_case(sha256) {
        return Err(LibraryError::HashMismatch {
            name: name.to_owned(),
            location: format!("the archive `{url}`"),
            expected: format!("sha256:{}", sha256.to_ascii_lowercase()),
            actual: format!("sha256:{actual}"),
        });
    }
    Ok(bytes)
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Unpacks `bytes` (tar, gzip-compressed or not) into `into` (created) and returns the
/// library root: `into` itself, or its single top-level directory.
pub fn unpack(bytes: &[u8], into: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(into).at("create directory", into)?;
    let unpacked = if bytes.starts_with(&[0x1f, 0x8b]) {
        tar::Archive::new(flate2::read::GzDecoder::new(bytes)).unpack(into)
    } else {
        tar::Archive::new(bytes).unpack(into)
    };
    unpacked.at("unpack archive into", into)?;
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(into).at("list directory", into)? {
        entries.push(entry.at("list directory", into)?);
    }
    if let [only] = entries.as_slice() {
        if only
            .file_type()
            .at("read metadata of", &only.path())?
            .is_dir()
        {
            return Ok(only.path());
        }
    }
    Ok(into.to_path_buf())
}
