//! Signing a release: loading an OpenSSH private key, making SSHSIG signatures in the
//! namespace [`NAMESPACE`], and writing a manifest and its signatures into a result
//! directory.
//!
//! Signatures are exactly what `ssh-keygen -Y sign -n imgbuild-release -f KEY FILE`
//! writes (SHA-512 message hash, armored `-----BEGIN SSH SIGNATURE-----`, LF line
//! endings), so `ssh-keygen -Y verify` checks them with no imgbuild installed. Ed25519
//! signatures are deterministic: the same key and manifest give the same bytes.
//!
//! **In a result directory** the manifest is [`MANIFEST_FILE`] and each endorser's
//! signature is `imgbuild-release.json.<principal>.sig`. The manifest is written once:
//! a second endorser who signs the identical manifest only adds a signature, and a
//! manifest with other bytes is refused ([`ProvenanceError::ManifestDiffers`]). Files are
//! written to a temporary file in the directory and renamed, so a reader never sees a
//! half-written one; they are world-readable (0644).
//!
//! A principal (the `<principal>` of the file name) is non-empty, at most 200 bytes,
//! does not start with `.`, and holds no `/`, whitespace or control characters.
//!
//! **Key types.** Ed25519 (recommended) and ECDSA (NIST P-256, P-384, P-521) keys sign.
//! RSA keys are refused for signing ([`ProvenanceError::UnsupportedKeyType`]): ssh-key
//! 0.6.7 builds the RSA private key from the prime `p` twice instead of `p` and `q`
//! (fixed upstream in RustCrypto/SSH pull request 217, not in a 0.6 release), so every
//! RSA signature attempt fails. RSA *signatures* made by `ssh-keygen` verify normally.
//!
//! Key material is never printed: [`SigningKey`]'s `Debug` shows the file and the
//! public fingerprint only, and errors never quote the key file.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};

use crate::error::{IoResultExt, ProvenanceError};
use crate::manifest::Manifest;
use crate::{MANIFEST_FILE, NAMESPACE};

/// The largest key file read.
const MAX_KEY_FILE_SIZE: u64 = 64 * 1024;

/// The longest principal accepted, in bytes.
const MAX_PRINCIPAL_LENGTH: usize = 200;

/// An unencrypted OpenSSH private key, ready to sign.
pub struct SigningKey {
    key: PrivateKey,
    path: PathBuf,
}

impl SigningKey {
    /// Reads a key from the text of an OpenSSH private key file; `path` is used in errors.
    pub fn from_openssh(text: &[u8], path: &Path) -> Result<SigningKey, ProvenanceError> {
        let key = PrivateKey::from_openssh(text).map_err(|error| ProvenanceError::InvalidKey {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
        if key.is_encrypted() {
            return Err(ProvenanceError::EncryptedKey {
                path: path.to_path_buf(),
            });
        }
        if !(key.algorithm().is_ed25519() || key.algorithm().is_ecdsa()) {
            return Err(ProvenanceError::UnsupportedKeyType {
                path: path.to_path_buf(),
                algorithm: key.algorithm().to_string(),
            });
        }
        Ok(SigningKey {
            key,
            path: path.to_path_buf(),
        })
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key().clone()
    }

    /// The public key's `SHA256:…` fingerprint, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SigningKey")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

/// Reads the OpenSSH private key file `path` (`ssh-keygen -t ed25519` writes them).
/// An encrypted key is refused with [`ProvenanceError::EncryptedKey`], which says what
/// to do instead.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, ProvenanceError> {
    let size = std::fs::metadata(path).at("read", path)?.len();
    if size > MAX_KEY_FILE_SIZE {
        return Err(ProvenanceError::InvalidKey {
            path: path.to_path_buf(),
            message: format!("{size} bytes is too large for a key file"),
        });
    }
    let text = zeroizing_read(path)?;
    SigningKey::from_openssh(&text, path)
}

/// Reads a file into a buffer that is wiped when dropped.
fn zeroizing_read(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, ProvenanceError> {
    Ok(zeroize::Zeroizing::new(
        std::fs::read(path).at("read", path)?,
    ))
}

/// Signs `message` in the namespace [`NAMESPACE`]; returns the armored signature
/// (`-----BEGIN SSH SIGNATURE-----`, ending in a newline), as `ssh-keygen -Y sign` does.
pub fn sign(message: &[u8], key: &SigningKey) -> Result<String, ProvenanceError> {
    let signing_error = |error: ssh_key::Error| ProvenanceError::Signing {
        fingerprint: key.fingerprint(),
        message: error.to_string(),
    };
    let signature = key
        .key
        .sign(NAMESPACE, HashAlg::Sha512, message)
        .map_err(signing_error)?;
    let mut armored = signature.to_pem(LineEnding::LF).map_err(signing_error)?;
    if !armored.ends_with('\n') {
        armored.push('\n');
    }
    Ok(armored)
}

/// The file name of `principal`'s signature: `imgbuild-release.json.<principal>.sig`.
pub fn signature_file_name(principal: &str) -> Result<String, ProvenanceError> {
    check_principal(principal)?;
    Ok(format!("{MANIFEST_FILE}.{principal}.sig"))
}

/// Checks a principal against the rules of the module documentation.
pub fn check_principal(principal: &str) -> Result<(), ProvenanceError> {
    let refuse = |reason| {
        Err(ProvenanceError::InvalidPrincipal {
            principal: principal.to_owned(),
            reason,
        })
    };
    if principal.is_empty() {
        refuse("is empty")
    } else if principal.len() > MAX_PRINCIPAL_LENGTH {
        refuse("is longer than 200 bytes")
    } else if principal.starts_with('.') {
        refuse("must not start with `.`")
    } else if principal.contains('/') {
        refuse("must not contain `/`")
    } else if principal
        .chars()
        .any(|character| character.is_control() || character.is_whitespace())
    {
        refuse("must be printable, without spaces")
    } else {
        Ok(())
    }
}

/// Writes `manifest` into `dir` as [`MANIFEST_FILE`] (unless the identical file is
/// already there) and `principal`'s signature over its bytes beside it; returns the
/// signature's path. A signature file of the same principal is replaced.
///
/// This does not re-hash the outputs: a second endorser should first check them with
/// [`crate::check_outputs`].
pub fn sign_directory(
    dir: &Path,
    manifest: &Manifest,
    key: &SigningKey,
    principal: &str,
) -> Result<PathBuf, ProvenanceError> {
    let signature_name = signature_file_name(principal)?;
    let manifest_path = dir.join(MANIFEST_FILE);
    manifest.validate(&manifest_path)?;
    let bytes = manifest.to_bytes();
    let signature = sign(&bytes, key)?;
    match std::fs::read(&manifest_path) {
        Ok(existing) if existing == bytes => {}
        Ok(_) => {
            return Err(ProvenanceError::ManifestDiffers {
                path: manifest_path,
            })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let written = write_atomically(dir, &manifest_path, &bytes, false)?;
            // Another endorser may have written it between the read and the rename.
            if !written && std::fs::read(&manifest_path).at("read", &manifest_path)? != bytes {
                return Err(ProvenanceError::ManifestDiffers {
                    path: manifest_path,
                });
            }
        }
        Err(error) => return Err(error).at("read", &manifest_path),
    }
    let signature_path = dir.join(signature_name);
    write_atomically(dir, &signature_path, signature.as_bytes(), true)?;
    Ok(signature_path)
}

/// Writes `bytes` to `path` (in `dir`) through a temporary file and a rename. Without
/// `replace`, an existing `path` is left alone and `false` returned.
fn write_atomically(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    replace: bool,
) -> Result<bool, ProvenanceError> {
    let mut temporary = tempfile::Builder::new()
        .prefix(".imgbuild-release-")
        .tempfile_in(dir)
        .at("create a file in", dir)?;
    temporary
        .as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .at("write", temporary.path())?;
    temporary.write_all(bytes).at("write", path)?;
    temporary.as_file().sync_all().at("write", path)?;
    if replace {
        temporary
            .persist(path)
            .map_err(|error| error.error)
            .at("write", path)?;
        return Ok(true);
    }
    match temporary.persist_noclobber(path) {
        Ok(_) => Ok(true),
        Err(error) if error.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(error.error).at("write", path),
    }
}
