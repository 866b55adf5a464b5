//! How a builder fails.
//!
//! [`BuildError`] separates the machine's faults ([`BuildError::is_environment`]: the
//! store, a local read, the network) from the recipe's, which decides the exit code.

use std::path::PathBuf;

use imgbuild_store::StoreError;

/// Why a builder failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The store failed (disk full, permission denied, corrupt object).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A local source changed since the recipe was evaluated.
    #[error("{path} changed since the recipe was evaluated (expected {expected}, found {found})")]
    SourceChanged {
        /// The local file or directory.
        path: PathBuf,
        /// The content identity recorded at evaluation.
        expected: String,
        /// The content identity found now.
        found: String,
    },
    /// A local source could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The local file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Two inputs put different things at the same path.
    #[error("conflict at `{path}`: {first} and {second} both provide it, differently")]
    Conflict {
        /// The path in the tree.
        path: String,
        /// The first input, named with where the recipe made it ([`crate::InputOutput::described`]).
        first: String,
        /// The second input, likewise.
        second: String,
    },
    /// The derivation's arguments are not what this builder version expects (a bug).
    #[error("malformed derivation: {0}")]
    Malformed(String),
    /// The network failed (unreachable host, reset connection, server error after
    /// retries): the machine's fault, not the recipe's. The text never holds credentials.
    #[error("{0}")]
    Network(String),
    /// The machine lacks something a step needs (user namespaces, a subordinate id
    /// range, a tool); the text says what to change.
    #[error("{0}")]
    Environment(String),
    /// Something else the builder reports.
    #[error("{0}")]
    Failed(String),
}

impl BuildError {
    /// True when the failure comes from the machine rather than the recipe.
    pub fn is_environment(&self) -> bool {
        match self {
            // What the recipe asked the store to hold can itself be wrong: a hard link to
            // nothing, a malformed tree. CI systems retry exit 3 forever; these are 1.
            BuildError::Store(StoreError::InvalidHardlink { .. } | StoreError::InvalidTree(_)) => {
                false
            }
            BuildError::Store(_)
            | BuildError::Read { .. }
            | BuildError::Network(_)
            | BuildError::Environment(_) => true,
            _ => false,
        }
    }
}

/// An error with its chain of causes (`cannot write X: No space left on device`), each
/// cause added unless the text already ends with it.
pub fn describe(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.ends_with(&text) {
            message = format!("{message}: {text}");
        }
        cause = inner.source();
    }
    message
}
