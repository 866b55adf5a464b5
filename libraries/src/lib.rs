//! Recipe libraries shared between teams at pinned versions.
//!
//! A project's `imgbuild.toml` ([`Manifest`]) names the libraries its recipes import —
//! git repositories selected by a semver range over their `vX.Y.Z` tags or by a tag,
//! revision or branch; local directories; tar archives pinned by SHA-256. A library is a directory
//! with its own `imgbuild.toml` (`[library] name, version` and its own `[libraries]`),
//! so requirements are transitive. [`resolve()`] turns the root manifest into a
//! [`Resolution`]: one copy of each library across the whole graph, with the commit,
//! version, content hash ([`tree_hash`]) and the directory holding its files. The
//! project's lock records that as a [`LockSection`], which later resolutions follow
//! and verify (moved tags and changed content are refused).
//!
//! Modules:
//! - [`manifest`]: `imgbuild.toml`, found by walking up from a recipe; errors at
//!   `file:line`.
//! - [`source`]: [`Source`] and [`Selector`], and their canonical one-line form.
//! - [`git`]: a thin wrapper over the user's `git` program (their credentials work).
//! - [`archive`]: downloading, checking and unpacking archive sources.
//! - [`hash`]: the deterministic BLAKE3 content hash of a library directory.
//! - [`lock`]: the `libraries` section of the project's lock file.
//! - [`resolve`](mod@resolve): the resolver itself.
//!
//! For callers (the CLI and the evaluator's import resolution):
//! 1. [`Manifest::find`] from the recipe; no manifest means no libraries.
//! 2. Read the `"libraries"` section of the lock file as a [`LockSection`] (absent:
//!    empty) and call [`resolve()`] with a cache directory, `--offline`
//!    ([`Mode`]), `lock --update [NAME]` ([`Update`]) and `--override NAME=PATH`.
//! 3. Write [`LockSection::from_resolution`] back (it keeps overridden entries).
//! 4. Map `import "base/debian"` to a file with [`Resolution::import`] (hermetic: a
//!    recipe imports only what its own manifest names), ideally reading the library
//!    from a copy in the store keyed by [`Resolved::hash`] rather than the cache.
//! 5. Map [`LibraryError::is_environment`] to the environment exit code.
//!
//! **Invariant:** this crate depends on no other workspace crate and not on Rhai
//! (`tests/architecture.rs`); it knows nothing of the store or the evaluator. Fetched
//! trees go under a cache directory the caller chooses; putting them into the store
//! and resolving `import "base/debian"` is the caller's business.

pub mod archive;
pub mod error;
pub mod git;
pub mod hash;
pub mod lock;
pub mod manifest;
pub mod resolve;
pub mod source;

pub use error::{LibraryError, Result};
pub use hash::tree_hash;
pub use lock::{LockSection, LockedLibrary};
pub use manifest::{Entry, LibraryInfo, Manifest, MANIFEST_NAME};
pub use resolve::{resolve, Mode, Resolution, Resolved, Update};
pub use source::{Selector, Source};
