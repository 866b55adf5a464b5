//! imgbuild's build engine: it turns a derivation [`Graph`] into outputs in the store.
//!
//! - [`scheduler`] plans top-down (a derivation whose recipe identity is already in the
//!   store is done), then builds bottom-up on `jobs` worker threads: cache-key lookup
//!   (early cutoff), cross-process build locks, failure propagation and `--keep-going`.
//! - [`context`] is the builder API: the [`BuildContext`] a builder gets (the store, the
//!   derivation, its inputs' outputs, the [`BuildConfig`], a log, a [`Reporter`]), and
//!   the [`BuildError`] it returns.
//! - [`executor`] is the seam between "this derivation must be built" and "run its
//!   builder": [`LocalExecutor`] runs builders in this process; a remote executor
//!   (REAPI) plugs in at the same place.
//!
//! The engine knows no recipe language and no derivation kind: builders are looked up in
//! the [`Builders`] table the caller passes (the builtins' registry). Builders are pure
//! functions of their context: everything from the machine (mirrors, `--offline`) is
//! resolved by the caller into a [`BuildConfig`], which is never part of an identity.
//! `tests/architecture.rs` checks that this crate does not depend on Rhai and that no
//! builder reads the environment or host configuration files.

pub mod config;
pub mod context;
pub mod error;
pub mod executor;
pub mod integrity;
pub mod scheduler;

pub use config::{BuildConfig, HostRepository, IdMapping, Mirrors, SandboxConfig, Tools};
pub use context::{
    file_output, tree_output, BuildContext, InputOutput, NoReporter, OutputKeys, Reporter,
};
pub use error::{describe, BuildError};
pub use executor::{BuildFn, Builders, Executor, LocalExecutor};
pub use imgbuild_derivation::{Derivation, DrvId, Graph, Identity, Origin};
pub use scheduler::{build, Event, EventSink, Options, Outcome};
