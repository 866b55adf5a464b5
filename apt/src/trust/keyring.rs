//! Keyrings: the OpenPGP certificates a repository's `InRelease` must be signed by.
//!
//! A keyring is loaded from binary keyring files (a concatenation of transferable public
//! keys, like `debian-archive-keyring.gpg`) or ASCII-armored files (`.asc`, possibly
//! several `PUBLIC KEY BLOCK`s one after another). The format is detected from the
//! first byte: every OpenPGP packet header has its high bit set, armor is text.
//!
//! Loading only parses; nothing about a certificate's validity is decided here. Binding
//! signatures, expiry, revocation and key flags are evaluated when a signature is
//! checked (see [`super::verify`]), at the signature's creation time and at the caller's
//! `now`.

use std::fmt;
use std::path::{Path, PathBuf};

use pgp::composed::{Deserializable, SignedPublicKey};
use pgp::types::KeyDetails;

use super::TrustError;

/// The keyring shipped by the `debian-archive-keyring` package. apt's own default is
/// the union of the per-release fragments in `/etc/apt/trusted.gpg.d/`, which the same
/// package installs; this single file holds the same archive and release keys in one
/// place and does not change when an administrator drops a third-party key into
/// `trusted.gpg.d`, which is why it is [`Keyring::host_default`].
pub const DEBIAN_ARCHIVE_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// apt's directory of trusted keyring fragments (`*.gpg` binary, `*.asc` armored).
pub const APT_TRUSTED_PARTS: &str = "/etc/apt/trusted.gpg.d";

/// An OpenPGP v4/v6 fingerprint (20 or 32 bytes). Displays as upper-case hex, the way
/// `gpg --with-colons` and apt print it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(Vec<u8>);

impl Fingerprint {
    /// Parses a fingerprint written in hex (spaces allowed, any case), as in apt's
    /// `Signed-By` field. Returns `None` unless it is 20 or 32 bytes of hex.
    pub fn from_hex(text: &str) -> Option<Fingerprint> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = hex::decode(compact).ok()?;
        matches!(bytes.len(), 20 | 32).then_some(Fingerprint(bytes))
    }

    /// The raw fingerprint bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn of(fingerprint: &pgp::types::Fingerprint) -> Fingerprint {
        Fingerprint(fingerprint.as_bytes().to_vec())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&hex::encode_upper(&self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Fingerprint({self})")
    }
}

/// A set of OpenPGP certificates trusted to sign repository metadata.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    certificates: Vec<SignedPublicKey>,
}

impl Keyring {
    /// An empty keyring: nothing verifies against it.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Parses certificates from binary or armored bytes; `label` names the source in
    /// errors. Data holding no certificate at all is an error.
    pub fn from_bytes(bytes: &[u8], label: &str) -> Result<Keyring, TrustError> {
        let mut keyring = Keyring::new();
        keyring.add_bytes(bytes, label)?;
        Ok(keyring)
    }

    /// Reads every file (binary or armored) into one keyring.
    pub fn from_files(paths: &[PathBuf]) -> Result<Keyring, TrustError> {
        let mut keyring = Keyring::new();
        for path in paths {
            keyring.add_file(path)?;
        }
        Ok(keyring)
    }

    /// The host's Debian archive keyring, [`DEBIAN_ARCHIVE_KEYRING`]. Fails (naming the
    /// path) when the `debian-archive-keyring` package is not installed.
    pub fn host_default() -> Result<Keyring, TrustError> {
        Keyring::from_files(&[PathBuf::from(DEBIAN_ARCHIVE_KEYRING)])
    }

    /// What apt on this host trusts without `Signed-By`: [`DEBIAN_ARCHIVE_KEYRING`] plus
    /// every `*.gpg` and `*.asc` in [`APT_TRUSTED_PARTS`] (the directory may be absent).
    /// The legacy `/etc/apt/trusted.gpg` is deliberately not read: apt deprecated it.
    pub fn host_apt() -> Result<Keyring, TrustError> {
        let mut paths = vec![PathBuf::from(DEBIAN_ARCHIVE_KEYRING)];
        paths.extend(keyring_files_in(Path::new(APT_TRUSTED_PARTS))?);
        Keyring::from_files(&paths)
    }

    /// Adds the certificates of one file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), TrustError> {
        let bytes = std::fs::read(path).map_err(|source| TrustError::KeyringRead {
            path: path.to_path_buf(),
            source,
        })?;
        self.add_bytes(&bytes, &path.display().to_string())
    }

    /// Adds the certificates in `bytes` (binary or armored); `label` names the source.
    pub fn add_bytes(&mut self, bytes: &[u8], label: &str) -> Result<(), TrustError> {
        let parse_error = |reason: String| TrustError::KeyringParse {
            label: label.to_string(),
            reason,
        };
        let before = self.certificates.len();
        match bytes.iter().find(|byte| !byte.is_ascii_whitespace()) {
            Some(first) if first & 0x80 != 0 => {
                let certificates = SignedPublicKey::from_bytes_many(bytes)
                    .map_err(|error| parse_error(error.to_string()))?;
                for certificate in certificates {
                    self.certificates
                        .push(certificate.map_err(|error| parse_error(error.to_string()))?);
                }
            }
            _ => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| parse_error("neither binary OpenPGP nor UTF-8 armor".into()))?;
                for block in armor_blocks(text) {
                    let (certificates, _headers) =
                        SignedPublicKey::from_armor_many(block.as_bytes())
                            .map_err(|error| parse_error(error.to_string()))?;
                    for certificate in certificates {
                        self.certificates
                            .push(certificate.map_err(|error| parse_error(error.to_string()))?);
                    }
                }
            }
        }
        if self.certificates.len() == before {
            return Err(parse_error("no OpenPGP certificate found".into()));
        }
        Ok(())
    }

    /// The primary-key fingerprints, in load order (a certificate present in two files
    /// is listed twice).
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        self.certificates
            .iter()
            .map(|certificate| Fingerprint::of(&certificate.fingerprint()))
            .collect()
    }

    /// Whether a certificate with this primary or subkey fingerprint is present.
    pub fn contains(&self, fingerprint: &Fingerprint) -> bool {
        self.certificates.iter().any(|certificate| {
            Fingerprint::of(&certificate.fingerprint()) == *fingerprint
                || certificate
                    .public_subkeys
                    .iter()
                    .any(|subkey| Fingerprint::of(&subkey.key.fingerprint()) == *fingerprint)
        })
    }

    /// Keeps only the certificates whose primary fingerprint is listed — apt's
    /// `Signed-By: <fingerprint>` scoping.
    pub fn restricted_to(&self, fingerprints: &[Fingerprint]) -> Keyring {
        Keyring {
            certificates: self
                .certificates
                .iter()
                .filter(|certificate| {
                    fingerprints.contains(&Fingerprint::of(&certificate.fingerprint()))
                })
                .cloned()
                .collect(),
        }
    }

    /// Number of certificates.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    /// Whether the keyring holds no certificate.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    pub(crate) fn certificates(&self) -> &[SignedPublicKey] {
        &self.certificates
    }
}

/// The `*.gpg` and `*.asc` files of a directory, sorted by name (apt's order). A missing
/// directory has none.
fn keyring_files_in(directory: &Path) -> Result<Vec<PathBuf>, TrustError> {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(TrustError::KeyringRead {
                path: directory.to_path_buf(),
                source,
            })
        }
    };
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| TrustError::KeyringRead {
            path: directory.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let wanted = path
            .extension()
            .is_some_and(|extension| extension == "gpg" || extension == "asc");
        if wanted && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Splits armored text into its `-----BEGIN ... -----END ...-----` blocks, so that a
/// `.asc` file holding several keys yields all of them.
fn armor_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim_end();
        if trimmed.starts_with("-----BEGIN PGP ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(trimmed);
            block.push('\n');
            if trimmed.starts_with("-----END PGP ") {
                blocks.extend(current.take());
            }
        }
    }
    // An unterminated block is still handed to the parser, which reports it.
    blocks.extend(current);
    blocks
}
