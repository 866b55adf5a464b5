//! [`LibraryError`]: every way reading a manifest, talking to git, hashing a tree or
//! resolving the library graph can fail.
//!
//! Each variant names what it is about: the manifest file and line, the requirement
//! chain (`web → tools → base ^2`), the repository URL, the commit or the hash.
//! Filesystem errors are wrapped at the call site with `IoResultExt::at`
//! (crate-private) so that the path always travels with the `io::Error`.
//!
//! **Invariant:** [`LibraryError::is_environment`] is true exactly for failures of the
//! machine or the network (git missing, a repository that cannot be reached, a
//! filesystem error, a library not in the cache while offline) — never for a mistake
//! in a manifest or a lock, so the CLI can map it to its environment exit code.

use std::io;
use std::path::{Path, PathBuf};

/// An error from this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LibraryError {
    /// A filesystem operation failed.
    #[error("cannot {operation} `{}`", path.display())]
    Io {
        /// What we were doing, e.g. "read manifest".
        operation: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A manifest that is not valid TOML or not a valid imgbuild manifest.
    #[error("{}:{line}: {message}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The 1-based line the problem is on (1 when unknown).
        line: usize,
        /// What is wrong, e.g. "unknown key `verison` (expected one of ...)".
        message: String,
    },
    /// The `git` program cannot be run.
    #[error("cannot run `git` (libraries from git repositories need it on PATH)")]
    GitMissing {
        /// Why spawning it failed.
        #[source]
        source: io::Error,
    },
    /// A repository that cannot be reached (network, credentials, no such repository).
    #[error("cannot reach the repository `{url}`: {stderr}")]
    Unreachable {
        /// The URL as written.
        url: String,
        /// What git said.
        stderr: String,
    },
    /// A git command that ran against a reachable repository failed.
    #[error("`git {command}` failed for `{url}`: {stderr}")]
    Git {
        /// The URL as written.
        url: String,
        /// The git subcommand and arguments, e.g. `fetch --depth 1 origin 3f2c…`.
        command: String,
        /// What git said.
        stderr: String,
    },
    /// A tag, branch, revision or version range that matches nothing in the repository.
    #[error(
        "{chain}: `{url}` has no {what}; available tags: {}",
        list_or_none(available)
    )]
    NoMatch {
        /// The requirement chain, e.g. `web → base ^3`.
        chain: String,
        /// The repository.
        url: String,
        /// What was looked for, e.g. "tag matching ^3" or "branch `main`".
        what: String,
        /// The repository's tags.
        available: Vec<String>,
    },
    /// Two requirements on one library that no single version satisfies.
    #[error("conflicting requirements on library `{name}`:\n  {}\n(add a [patch] entry for `{name}` to the root manifest to force one source)", chains.join("\n  "))]
    Conflict {
        /// The library.
        name: String,
        /// Every requirement chain on it, e.g. `web → base ^1.4`, `web → tools → base ^2`.
        chains: Vec<String>,
    },
    /// Libraries that require each other.
    #[error("libraries depend on each other in a cycle: {}", cycle.join(" → "))]
    Cycle {
        /// The cycle, first name repeated at the end.
        cycle: Vec<String>,
    },
    /// A tag that points to another commit than when it was locked (force-pushed).
    #[error("library `{name}`: tag `{tag}` of `{url}` now points to {now}, but the lock has {locked}; refusing a moved tag (run `imgbuild lock --update {name}` if the move is intended)")]
    TagMoved {
        /// The library.
        name: String,
        /// The repository.
        url: String,
        /// The tag.
        tag: String,
        /// The commit in the lock.
        locked: String,
        /// The commit the tag points to now.
        now: String,
    },
    /// A fetched tree whose content hash is not the locked one.
    #[error("library `{name}`: the content of {location} hashes to {actual}, but the lock has {expected}; refusing it")]
    HashMismatch {
        /// The library.
        name: String,
        /// Where the content came from, e.g. "commit 3f2c… of `URL`".
        location: String,
        /// The hash in the lock.
        expected: String,
        /// The hash of what was fetched.
        actual: String,
    },
    /// Offline, with a lock entry that does not match the manifest (or none at all).
    #[error("library `{name}` is not locked for `{manifest_source}` (the lock has {}) and --offline forbids resolving it; run `imgbuild lock` online", locked_source.as_deref().map_or("no entry".to_owned(), |source| format!("`{source}`")))]
    LockMismatch {
        /// The library.
        name: String,
        /// The source as the manifests now require it.
        manifest_source: String,
        /// The source in the lock, if any.
        locked_source: Option<String>,
    },
    /// Offline, and the locked commit or archive is not in the cache.
    #[error(
        "library `{name}`: {what} of `{url}` is not in the cache and --offline forbids fetching it"
    )]
    NotCached {
        /// The library.
        name: String,
        /// The repository or archive URL.
        url: String,
        /// What is missing: `commit <id>` or `the archive sha256:<hex>`.
        what: String,
    },
    /// A library directory without its own `imgbuild.toml`, or one declaring another name.
    #[error("{}: {problem}", path.display())]
    BadLibrary {
        /// The library's directory or manifest.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A directory entry that cannot be hashed safely (escapes the root, special file).
    #[error("cannot hash `{}`: {problem}", path.display())]
    Unhashable {
        /// The entry.
        path: PathBuf,
        /// Why.
        problem: String,
    },
    /// The lock section cannot be read.
    #[error("the `libraries` lock section is malformed: {0}")]
    LockFormat(#[from] serde_json::Error),
    /// An import that does not name a file of a library the importer may use.
    #[error("cannot import `{import}` from {importer}: {problem}")]
    Import {
        /// The import path as written, e.g. `base/debian`.
        import: String,
        /// "the project" or "library `NAME`".
        importer: String,
        /// Why.
        problem: String,
    },
    /// `lock --update NAME` for a name the graph does not have.
    #[error(
        "there is no library `{name}` to update; the libraries are: {}",
        list_or_none(known)
    )]
    UnknownUpdate {
        /// The name asked for.
        name: String,
        /// The libraries of the graph.
        known: Vec<String>,
    },
    /// `lock --update` asked for together with `--offline`.
    #[error("updating locked libraries needs the network; drop --offline or the update")]
    OfflineUpdate,
    /// Resolution kept changing its choices (a pathological graph).
    #[error("library resolution did not settle after {rounds} rounds (last changed: {names})")]
    Unsettled {
        /// How many rounds were tried.
        rounds: usize,
        /// The libraries still changing.
        names: String,
    },
}

impl LibraryError {
    /// True for failures of the machine or the network rather than of a manifest or
    /// lock: the CLI reports them with its environment exit code.
    pub fn is_environment(&self) -> bool {
        matches!(
            self,
            LibraryError::Io { .. }
                | LibraryError::GitMissing { .. }
                | LibraryError::Unreachable { .. }
                | LibraryError::NotCached { .. }
        )
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// Attaches the operation and path to an `io::Error`.
pub(crate) trait IoResultExt<T> {
    /// Wraps the error as [`LibraryError::Io`].
    fn at(self, operation: &'static str, path: &Path) -> Result<T, LibraryError>;
}

impl<T> IoResultExt<T> for Result<T, io::Error> {
    fn at(self, operation: &'static str, path: &Path) -> Result<T, LibraryError> {
        self.map_err(|source| LibraryError::Io {
            operation,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The result type of this crate.
pub type Result<T, E = LibraryError> = std::result::Result<T, E>;
