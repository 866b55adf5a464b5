//! Checking index files (`Packages.xz`, `Sources.gz`, ...) against the size and SHA-256
//! a [`Release`] lists for them: whole buffers with [`verify_file`], streams with a
//! [`FileVerifier`] the caller feeds (it is an [`std::io::Write`], so `io::copy` works)
//! and finishes with [`FileVerifier::finish`].

use sha2::{Digest, Sha256};

use super::release::{FileEntry, Release};
use super::TrustError;

/// Checks `bytes` against the release's `SHA256` entry for `path`.
pub fn verify_file(release: &Release, path: &str, bytes: &[u8]) -> Result<(), TrustError> {
    let mut verifier = FileVerifier::new(release, path)?;
    verifier.update(bytes);
    verifier.finish()
}

/// Incremental size + SHA-256 check of one file listed in a [`Release`].
#[derive(Debug, Clone)]
pub struct FileVerifier {
    path: String,
    label: String,
    expected: FileEntry,
    hasher: Sha256,
    size: u64,
}

impl FileVerifier {
    /// Starts checking `path`; fails if the release does not list it.
    pub fn new(release: &Release, path: &str) -> Result<FileVerifier, TrustError> {
        let expected = *release
            .file(path)
            .ok_or_else(|| TrustError::FileNotListed {
                label: release.source.clone(),
                path: path.to_string(),
            })?;
        Ok(FileVerifier {
            path: path.to_string(),
            label: release.source.clone(),
            expected,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.size = self.size.saturating_add(bytes.len() as u64);
        self.hasher.update(bytes);
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether more bytes than the listed size were fed — a download can stop early.
    pub fn is_oversized(&self) -> bool {
        self.size > self.expected.size
    }

    /// Compares size and digest with the listed ones.
    pub fn finish(self) -> Result<(), TrustError> {
        if self.size != self.expected.size {
            return Err(TrustError::SizeMismatch {
                label: self.label,
                path: self.path,
                expected: self.expected.size,
                actual: self.size,
            });
        }
        let actual: [u8; 32] = self.hasher.finalize().into();
        if actual != self.expected.sha256 {
            return Err(TrustError::HashMismatch {
                label: self.label,
                path: self.path,
                expected: hex::encode(self.expected.sha256),
                actual: hex::encode(actual),
            });
        }
        Ok(())
    }
}

impl std::io::Write for FileVerifier {
    /// Feeds `bytes`; refuses (with `InvalidData`) to go past the listed size.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.update(bytes);
        if self.is_oversized() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: {} is larger than the {} bytes listed in the Release",
                    self.label, self.path, self.expected.size
                ),
            ));
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
