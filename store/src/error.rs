//! [`StoreError`]: every way a store operation can fail.
//!
//! Each variant names what it is about: the path on disk, the digest of the
//! object, the key of an output record or the path inside a tree. Filesystem
//! errors are wrapped at the call site with `IoResultExt::at` (crate-private) so that the
//! path always travels with the `io::Error`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::tree::TreeError;

/// The kinds of object the store keeps; used in errors and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// A blob (single-object or chunk manifest).
    Blob,
    /// A chunk of a large blob.
    Chunk,
    /// A directory object of a tree.
    Tree,
    /// An output record in one of the output indexes.
    Output,
    /// A build log.
    Log,
    /// A root file (explicit root or result manifest).
    Root,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            ObjectKind::Blob => "blob",
            ObjectKind::Chunk => "chunk",
            ObjectKind::Tree => "tree",
            ObjectKind::Output => "output record",
            ObjectKind::Log => "log",
            ObjectKind::Root => "root",
        })
    }
}

/// An error from the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("cannot {operation} `{}`", path.display())]
    Io {
        /// What we were doing, e.g. "create directory".
        operation: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The store was created by a different, unknown layout version.
    #[error(
        "`{}` is not an imgbuild store this version understands: its VERSION says `{found}`, expected `{expected}` (use an empty or new directory for a store)",
        path.parent().unwrap_or(path).display()
    )]
    UnknownLayout {
        /// The `VERSION` file.
        path: PathBuf,
        /// What the file says.
        found: String,
        /// What we understand.
        expected: &'static str,
    },
    /// A secret key file that cannot be used (readable by others, malformed, ...).
    #[error("refusing the secret key file `{}`: {problem}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The store can be written by someone other than this user (and root).
    #[error("refusing the store directory `{}`: {problem}", path.display())]
    SharedStore {
        /// The directory.
        path: PathBuf,
        /// Who else can write it.
        problem: String,
    },
    /// An object does not exist.
    #[error("{kind} {digest} is not in the store")]
    NotFound {
        /// The kind of object.
        kind: ObjectKind,
        /// Its digest.
        digest: Digest,
    },
    /// An object exists but its contents do not match its digest or cannot be decoded.
    #[error("{kind} {digest} at `{}` is corrupt", path.display())]
    ObjectCorrupt {
        /// The kind of object.
        kind: ObjectKind,
        /// The digest it should have.
        digest: Digest,
        /// Where it lives.
        path: PathBuf,
    },
    /// A tree is malformed.
    #[error(transparent)]
    InvalidTree(#[from] TreeError),
    /// A tree refers to a blob that is not in the store.
    #[error("`{path}` in the tree refers to blob {blob}, which is not in the store")]
    MissingBlob {
        /// The path inside the tree.
        path: String,
        /// The missing blob.
        blob: Digest,
    },
    /// A hardlink in a tree does not point to a regular file of the same tree.
    #[error("hardlink `{path}` points to `{target}`, which is not a regular file in the tree")]
    InvalidHardlink {
        /// The hardlink's path in the tree.
        path: String,
        /// Its target.
        target: String,
    },
    /// A blob's size does not match what a record or tree says.
    #[error("blob {blob} has {actual} bytes, but `{context}` says {expected}")]
    SizeMismatch {
        /// The blob.
        blob: Digest,
        /// Where the expected size came from.
        context: String,
        /// The expected size.
        expected: u64,
        /// The size in the store.
        actual: u64,
    },
    /// A root name is not acceptable.
    #[error(
        "`{name}` is not a valid root name (use letters, digits, `.`, `_`, `-`; not starting with `.`)"
    )]
    InvalidRootName {
        /// The rejected name.
        name: String,
    },
    /// A log lookup prefix is not hex.
    #[error("`{prefix}` is not a hex digest prefix")]
    InvalidDigestPrefix {
        /// The rejected prefix.
        prefix: String,
    },
    /// A result manifest could not be understood.
    #[error("`{}` is not a valid result manifest: {reason}", path.display())]
    InvalidManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tree cannot be materialized as a directory and the tar fallback was not allowed.
    #[error("cannot materialize the tree at `{}` without privileges: {reason}", path.display())]
    NeedsPrivileges {
        /// The destination.
        path: PathBuf,
        /// Which entry needs what.
        reason: String,
    },
    /// A tar stream could not be written.
    #[error("cannot write the tar stream of tree {tree} at `{path}`")]
    TarWrite {
        /// The tree being rendered.
        tree: Digest,
        /// The path inside the tree being written.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// The object this error says is missing or corrupt, when it is about a blob, a
    /// chunk or a directory object: the store is damaged there, and whatever reaches
    /// that object must be checked ([`crate::Store::repair_output`]) and rebuilt.
    pub fn damaged_object(&self) -> Option<(ObjectKind, Digest)> {
        match self {
            StoreError::NotFound { kind, digest }
            | StoreError::ObjectCorrupt { kind, digest, .. }
                if matches!(
                    kind,
                    ObjectKind::Blob | ObjectKind::Chunk | ObjectKind::Tree
                ) =>
            {
                Some((*kind, *digest))
            }
            StoreError::MissingBlob { blob, .. } => Some((ObjectKind::Blob, *blob)),
            _ => None,
        }
    }
}

/// Attaches a path and an operation to `io::Error`s.
pub(crate) trait IoResultExt<T> {
    /// Maps the error to [`StoreError::Io`] naming `path`.
    fn at(self, operation: &'static str, path: &Path) -> Result<T, StoreError>;
}

impl<T> IoResultExt<T> for io::Result<T> {
    fn at(self, operation: &'static str, path: &Path) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Io {
            operation,
            path: path.to_path_buf(),
            source,
        })
    }
}

impl<T> IoResultExt<T> for Result<T, rustix::io::Errno> {
    fn at(self, operation: &'static str, path: &Path) -> Result<T, StoreError> {
        self.map_err(|errno| StoreError::Io {
            operation,
            path: path.to_path_buf(),
            source: io::Error::from(errno),
        })
    }
}

/// Whether an error means "the thing is not there".
pub(crate) fn is_not_found(error: &StoreError) -> bool {
    match error {
        StoreError::NotFound { .. } => true,
        StoreError::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
        _ => false,
    }
}
