//! The one error type of the appliers. Every variant names what it was about: the path
//! inside the target (as the instance sees it, `/etc/hosts`), the program run, the user.
//! A failed step turns its error into the report's message; no error stops the others.
//!
//! Passwords never reach an error: the programs that receive them get them on standard
//! input and their messages name the user only.

use std::path::PathBuf;

/// Why one step (or part of it) could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A file system operation failed on a path inside the target root.
    #[error("cannot {operation} {path}: {source}")]
    Io {
        /// What was attempted (`read`, `write`, `create directory`).
        operation: &'static str,
        /// The path as the instance sees it.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A path from the medium (or derived from it) is not acceptable.
    #[error("refusing path {path:?}: {reason}")]
    Path {
        /// The path as given.
        path: String,
        /// Why (`not absolute`, `contains ..`, `a symbolic link`).
        reason: &'static str,
    },
    /// A value from the medium is not acceptable (a host name, a user name, a key).
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// What the value is (`host name`, `user name`).
        what: &'static str,
        /// The value (never a password).
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A program ran and failed.
    #[error("{program} {arguments} failed ({status}): {stderr}")]
    Program {
        /// The program.
        program: PathBuf,
        /// Its arguments, joined (they never carry a secret).
        arguments: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A program the step needs is not installed.
    #[error("{program} is not installed")]
    Missing {
        /// The program name.
        program: &'static str,
    },
    /// A user or group named by the medium does not exist in the target.
    #[error("no {what} {name:?} in the target's {file}")]
    Unknown {
        /// `user` or `group`.
        what: &'static str,
        /// The name.
        name: String,
        /// The file looked in (`/etc/passwd`).
        file: &'static str,
    },
}

impl ApplyError {
    /// An [`ApplyError::Io`] for `path`.
    pub(crate) fn io(operation: &'static str, path: &str, source: std::io::Error) -> ApplyError {
        ApplyError::Io {
            operation,
            path: path.to_owned(),
            source,
        }
    }

    /// An [`ApplyError::Invalid`].
    pub(crate) fn invalid(what: &'static str, value: &str, reason: &'static str) -> ApplyError {
        ApplyError::Invalid {
            what,
            value: value.to_owned(),
            reason,
        }
    }
}
