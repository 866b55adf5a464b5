//! The builder API: what a builder gets to work with.
//!
//! A builder is a function `fn(&mut BuildContext) -> Result<OutputRecord, BuildError>`.
//! It reads its derivation's arguments and its inputs' outputs, writes its output into
//! the store and returns the record; it logs into [`BuildContext::log`] (kept in the
//! store, shown on failure) and reports progress through the [`Reporter`]. It never
//! prints, and takes everything from the machine from [`BuildContext::config`].

use std::sync::Arc;

use imgbuild_derivation::{Derivation, Identity, Origin};
use imgbuild_store::{OutputRecord, Store};

use crate::config::BuildConfig;
use crate::error::BuildError;

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
    /// Where the recipe constructed it (for errors that name an input).
    pub origin: Option<Arc<Origin>>,
}

impl InputOutput {
    /// The input as errors name it: `` `name` (recipe.rhai:3:9) ``.
    pub fn described(&self) -> String {
        match &self.origin {
            Some(origin) => format!("`{}` ({origin})", self.name),
            None => format!("`{}`", self.name),
        }
    }
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
    /// Settings resolved at the edge (`--offline`, mirrors); never hashed.
    pub config: &'a BuildConfig,
    /// The keys the scheduler will publish the output under (`None` outside a
    /// scheduler: tests, a remote worker). Builders do not need them; an executor that
    /// leaves an output elsewhere publishes it under them once fetched.
    pub keys: Option<OutputKeys>,
}

/// The two index keys of a derivation's output in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputKeys {
    /// Its cache key.
    pub cache_key: imgbuild_store::Digest,
    /// Its recipe identity.
    pub recipe: imgbuild_store::Digest,
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
