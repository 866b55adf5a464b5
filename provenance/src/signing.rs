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
//! **Key types.** Ed25519 keys sign (deterministic signatures: a signed release is
//! reproducible). ECDSA and RSA keys are refused for signing
//! ([`ProvenanceError::UnsupportedKeyType`], named before the key is decoded): ssh-key
//! 0.6.7 cannot read an ECDSA private key whose scalar has a leading zero byte (about 1
//! NIST P-256 key in 75 and 1 P-521 key in 4 made by `ssh-keygen` failed here), and it
//! builds the RSA private key from the prime `p` twice instead of `p` and `q` (fixed
//! upstream in RustCrypto/SSH pull request 217, not in a 0.6 release). ECDSA and RSA
//! *signatures* made by `ssh-keygen` verify normally.
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

/// The type of the first public key in an OpenSSH private key file (`ssh-ed25519`,
/// `ecdsa-sha2-nistp256`, ...), read from its unencrypted header: the base64 body holds
/// `openssh-key-v1\0`, then the strings cipher, KDF and KDF options, a key count, and the
/// public key blob, which starts with its type string. `None` when the file is not in
/// that form (the full parser then says why).
fn key_type(text: &[u8]) -> Option<String> {
    use base64::Engine as _;
    let text = std::str::from_utf8(text).ok()?;
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("-----"))
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    let mut rest = bytes.strip_prefix(b"openssh-key-v1\0")?;
    for _ in 0..3 {
        take_string(&mut rest)?; // cipher, KDF, KDF options
    }
    rest = rest.get(4..)?; // number of keys
    let mut blob = take_string(&mut rest)?;
    let name = take_string(&mut blob)?;
    String::from_utf8(name.to_vec()).ok()
}

/// One length-prefixed string (SSH wire format) off the front of `rest`.
fn take_string<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let length = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let value = rest.get(4..4usize.checked_add(length)?)?;
    *rest = &rest[4 + length..];
    Some(value)
}

impl SigningKey {
    /// Reads a key from the text of an OpenSSH private key file; `path` is used in errors.
    pub fn from_openssh(text: &[u8], path: &Path) -> Result<SigningKey, ProvenanceError> {
        // The key type is named in the clear part of the file: refuse what cannot sign
        // before decoding the private part (which fails for some ECDSA keys).
        if let Some(algorithm) = key_type(text).filter(|algorithm| algorithm != "ssh-ed25519") {
            return Err(ProvenanceError::UnsupportedKeyType {
                path: path.to_path_buf(),
                algorithm,
            });
        }
        let key = PrivateKey::from_openssh(text).map_err(|error| ProvenanceError::InvalidKey {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
        if key.is_encrypted() {
            return Err(ProvenanceError::EncryptedKey {
                path: path.to_path_buf(),
            });
        }
        if !key.algorithm().is_ed25519() {
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
