//! The one error type of this crate: every variant names the file, field, key or
//! principal it is about, so a message can be acted on without a debugger.

use std::path::PathBuf;

/// What went wrong while describing, signing or verifying a release.
///
/// Problems found *in* a release during [`crate::verify_directory`] (a digest that
/// differs, a bad signature) are not errors but [`crate::Problem`]s; an error means the
/// work could not be done at all (the manifest is unreadable, the policy is invalid).
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    /// A file-system operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done (`"read"`, `"write"`, `"list"`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is not JSON of the expected shape (a missing or unknown key, a value
    /// of the wrong type).
    #[error("{path}: not a valid imgbuild release manifest: {message}")]
    ManifestSyntax {
        /// The manifest file.
        path: PathBuf,
        /// What the JSON reader said, with line and column.
        message: String,
    },
    /// The manifest declares a format version this library does not read.
    #[error(
        "{path}: manifest format {found:?} is not supported (this imgbuild reads {expected:?})"
    )]
    ManifestFormat {
        /// The manifest file.
        path: PathBuf,
        /// The `format` value found.
        found: String,
        /// The format this library reads and writes.
        expected: &'static str,
    },
    /// A field of the manifest has a value that breaks the manifest's rules.
    #[error("{path}: `{field}`: {message}")]
    ManifestField {
        /// The manifest file.
        path: PathBuf,
        /// Where in the manifest (`outputs[1].sha256`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file name or symlink target that is not UTF-8 cannot be recorded in the
    /// manifest.
    #[error("{path}: the name or symlink target is not UTF-8; a release manifest records only UTF-8 names")]
    NonUtf8Name {
        /// The offending file.
        path: PathBuf,
    },
    /// Outputs hold only regular files, directories and symlinks.
    #[error("{path}: is a {kind}; a release output may hold only regular files, directories and symlinks")]
    UnsupportedFileType {
        /// The offending file.
        path: PathBuf,
        /// What it is (`"socket"`, `"device"`, `"fifo"`).
        kind: &'static str,
    },
    /// An output name cannot be recorded (it must be one plain file name).
    #[error("output name {name:?}: {reason}")]
    InvalidOutputName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The directory already holds a manifest with other contents: signing would
    /// endorse something else than what the other signatures endorse.
    #[error("{path} already exists with different contents; every endorser must sign the same manifest (remove it and its .sig files to start a new release)")]
    ManifestDiffers {
        /// The existing manifest.
        path: PathBuf,
    },
    /// The private key is protected by a passphrase, which this library does not ask for.
    #[error("{path}: the private key is encrypted with a passphrase; sign with an unencrypted copy kept offline (ssh-keygen -p -N '' -f COPY), or sign the manifest with ssh-keygen -Y sign -n imgbuild-release")]
    EncryptedKey {
        /// The key file.
        path: PathBuf,
    },
    /// The file is not an OpenSSH private key this library can use.
    #[error("{path}: not a usable OpenSSH private key: {message}")]
    InvalidKey {
        /// The key file.
        path: PathBuf,
        /// Why (never containing key material).
        message: String,
    },
    /// The key's type cannot sign here (ECDSA, RSA, DSA, security-key and certificate keys).
    #[error("{path}: {algorithm} keys cannot sign imgbuild releases; use an Ed25519 key (ssh-keygen -t ed25519); verification accepts ECDSA and RSA signatures made by ssh-keygen")]
    UnsupportedKeyType {
        /// The key file.
        path: PathBuf,
        /// The key's algorithm (`"ssh-rsa"`).
        algorithm: String,
    },
    /// The key could not produce a signature.
    #[error("signing with the key {fingerprint} failed: {message}")]
    Signing {
        /// The key's SHA-256 fingerprint.
        fingerprint: String,
        /// The reason given by the signature code.
        message: String,
    },
    /// A principal (signer name used in a file name or an allowed-signers file) is refused.
    #[error("principal {principal:?}: {reason}")]
    InvalidPrincipal {
        /// The name given.
        principal: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The endorsement policy file is invalid.
    #[error("{path}:{line}: {message}")]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// The 1-based line of the offending key or value.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Attaches the action and path to an [`std::io::Error`].
pub(crate) trait IoResultExt<T> {
    /// Turns an I/O error into [`ProvenanceError::Io`] naming `path`.
    fn at(self, action: &'static str, path: &std::path::Path) -> Result<T, ProvenanceError>;
}

impl<T> IoResultExt<T> for std::io::Result<T> {
    fn at(self, action: &'static str, path: &std::path::Path) -> Result<T, ProvenanceError> {
        self.map_err(|source| ProvenanceError::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}
