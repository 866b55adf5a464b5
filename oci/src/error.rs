//! The one error type of the OCI layout writer. Every variant names what it is about: the
//! path of a file, or the [`ImageConfig`](crate::ImageConfig) field and value that was
//! refused.

use std::io;
use std::path::PathBuf;

/// Why [`write_layout`](crate::write_layout) could not write an image layout.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// A file-system operation on `path` failed.
    #[error("cannot {operation} {}", path.display())]
    Io {
        /// What was being done ("create", "write", "rename into place", ...).
        operation: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The target directory already holds something; a layout is only written into an
    /// empty directory so that no stale blob or index can survive in it.
    #[error("{} is not empty: an OCI layout is written into an empty directory", path.display())]
    DirectoryNotEmpty {
        /// The directory that was given.
        path: PathBuf,
    },
    /// The closure that writes the layer's tar stream failed, or the compressed layer
    /// could not be written to `path` while it ran.
    #[error("cannot write the layer into {}", path.display())]
    Layer {
        /// The temporary file the layer was being written to.
        path: PathBuf,
        /// The error the tar writer or the compressor returned.
        #[source]
        source: io::Error,
    },
    /// A field of the image configuration holds a value the image specification does not
    /// allow.
    #[error("image configuration field `{field}` is invalid ({value:?}): {reason}")]
    InvalidConfig {
        /// The field of [`ImageConfig`](crate::ImageConfig) (`"env"`, `"architecture"`).
        field: &'static str,
        /// The offending value.
        value: String,
        /// What the rule is.
        reason: &'static str,
    },
    /// A JSON document of the layout could not be serialised.
    #[error("cannot serialise the {document}")]
    Json {
        /// Which document (`"manifest"`, `"index.json"`).
        document: &'static str,
        /// What `serde_json` said.
        #[source]
        source: serde_json::Error,
    },
    /// `created` lies outside the years 1 to 9999, which RFC 3339 cannot write.
    #[error("image configuration field `created` ({seconds} seconds since 1970) is outside the years 1 to 9999")]
    CreatedOutOfRange {
        /// The value given.
        seconds: i64,
    },
}

/// Attaches the operation and path to an I/O result: `fs::write(&path, data).at("write", &path)`.
pub(crate) trait IoResultExt<T> {
    /// Turns an [`io::Error`] into [`OciError::Io`] naming `operation` and `path`.
    fn at(self, operation: &'static str, path: impl Into<PathBuf>) -> Result<T, OciError>;
}

impl<T> IoResultExt<T> for io::Result<T> {
    fn at(self, operation: &'static str, path: impl Into<PathBuf>) -> Result<T, OciError> {
        self.map_err(|source| OciError::Io {
            operation,
            path: path.into(),
            source,
        })
    }
}
