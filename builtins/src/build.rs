//! What a builder gets to work with, and how it fails.

use std::path::PathBuf;

use imgbuild_evaluator::{Derivation, Identity};
use imgbuild_store::{OutputRecord, Store, StoreError};

/// Progress reporting from builders (implemented by the CLI).
pub trait Reporter: Send + Sync {
    /// Work done so far on the current derivation, in `unit`s.
    fn progress(&self, done: u64, total: Option<u64>, unit: &str);
}

/// A reporter that ignores everything (tests, benchmarks).
pub struct NoReporter;

impl Reporter for NoReporter {
    fn progress(&self, _done: u64, _total: Option<u64>, _unit: &str) {}
}

/// One input's realised output.
#[derive(Clone, Debug)]
pub struct InputOutput {
    /// The input derivation's name.
    pub name: String,
    /// The input derivation's recipe identity.
    pub identity: Identity,
    /// Its output in the store.
    pub record: OutputRecord,
}

/// Everything a builder needs for one derivation.
pub struct BuildContext<'a> {
    /// The store to read inputs from and write the output to.
    pub store: &'a Store,
    /// The derivation being built.
    pub derivation: &'a Derivation,
    /// Its inputs' outputs, in the derivation's input order.
    pub inputs: Vec<InputOutput>,
    /// The derivation's log (kept in the store, shown on failure).
    pub log: Vec<u8>,
    /// Progress sink.
    pub reporter: &'a dyn Reporter,
    /// `--offline`: builders must not use the network.
    pub offline: bool,
}

impl BuildContext<'_> {
    /// Appends a line to the derivation's log.
    pub fn log_line(&mut self, line: impl AsRef<str>) {
        self.log.extend_from_slice(line.as_ref().as_bytes());
        self.log.push(b'\n');
    }

    /// The output of input number `index`.
    pub fn input(&self, index: u32) -> Result<&InputOutput, BuildError> {
        self.inputs
            .get(index as usize)
            .ok_or_else(|| BuildError::Malformed(format!("input #{index} does not exist")))
    }
}

/// The output record of a file blob.
pub fn file_output(
    info: &imgbuild_store::BlobInfo,
    executable: bool,
    secret: bool,
) -> OutputRecord {
    OutputRecord {
        object: imgbuild_store::OutputObject::File {
            blob: info.digest,
            size: info.size,
            executable,
        },
        secret,
    }
}

/// The output record of a tree.
pub fn tree_output(tree: imgbuild_store::Digest, secret: bool) -> OutputRecord {
    OutputRecord {
        object: imgbuild_store::OutputObject::Tree { tree },
        secret,
    }
}

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
    #[error("conflict at `{path}`: `{first}` and `{second}` both provide it, differently")]
    Conflict {
        /// The path in the tree.
        path: String,
        /// The first input's name.
        first: String,
        /// The second input's name.
        second: String,
    },
    /// The derivation's arguments are not what this builder version expects (a bug).
    #[error("malformed derivation: {0}")]
    Malformed(String),
    /// Something else the builder reports.
    #[error("{0}")]
    Failed(String),
}

impl BuildError {
    /// True when the failure comes from the machine rather than the recipe.
    pub fn is_environment(&self) -> bool {
        matches!(self, BuildError::Store(_) | BuildError::Read { .. })
    }
}
