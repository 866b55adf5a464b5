//! Where a library comes from: [`Source`] (a git repository with a [`Selector`], a
//! directory, or an archive) and its canonical one-line form.
//!
//! The canonical form (`Display`) is what the lock records as "the source as written"
//! and what [`crate::LockSection::matches_manifest`] compares:
//!
//! ```text
//! git+https://git.example.org/platform/base-os.git?version=^1.4
//! git+ssh://git@git.example.org/ops/tools.git?rev=3f2c1e9
//! path+../site-lib
//! archive+https://files.example.org/net-lib-2.1.tar.gz#sha256=...
//! ```
//!
//! **Invariant:** a constructed `Source` never holds a URL, tag, branch or revision
//! that starts with `-` (it could be taken for an option by `git`), and a revision is
//! 4 to 40 hexadecimal digits. [`Source::validate`] enforces this; the manifest parser
//! calls it for every entry.

use std::fmt;
use std::path::PathBuf;

use semver::VersionReq;

/// Which commit of a git repository a requirement means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The highest `vX.Y.Z` tag whose version satisfies the range.
    Version(VersionReq),
    /// One tag, by name.
    Tag(String),
    /// One commit, by (possibly abbreviated) hexadecimal id.
    Rev(String),
    /// The current head of a branch (the lock pins the commit).
    Branch(String),
}

/// Where a library's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A git repository, reached through the user's `git` program.
    Git {
        /// The URL as written (anything `git` accepts: https, ssh, file, a path).
        url: String,
        /// Which commit.
        selector: Selector,
    },
    /// A directory, relative to the manifest that names it.
    Path(PathBuf),
    /// A tar archive (plain or gzip) with its expected SHA-256.
    Archive {
        /// Where to download it.
        url: String,
        /// Its expected SHA-256, hexadecimal.
        sha256: String,
    },
}

impl Source {
    /// Checks the invariants stated in the module documentation; the error is one
    /// sentence saying what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let no_dash = |what: &str, value: &str| {
            if value.is_empty() {
                Err(format!("{what} is empty"))
            } else if value.starts_with('-') {
                Err(format!("{what} `{value}` must not start with `-`"))
            } else {
                Ok(())
            }
        };
        match self {
            Source::Git { url, selector } => {
                no_dash("the git URL", url)?;
                match selector {
                    Selector::Version(_) => Ok(()),
                    Selector::Tag(tag) => no_dash("the tag", tag),
                    Selector::Branch(branch) => no_dash("the branch", branch),
                    Selector::Rev(rev) => {
                        let hex = rev.chars().all(|character| character.is_ascii_hexdigit());
                        if hex && (4..=40).contains(&rev.len()) {
                            Ok(())
                        } else {
                            Err(format!(
                                "the revision `{rev}` is not 4 to 40 hexadecimal digits"
                            ))
                        }
                    }
                }
            }
            Source::Path(path) => {
                if path.as_os_str().is_empty() {
                    Err("the path is empty".to_owned())
                } else {
                    Ok(())
                }
            }
            Source::Archive { url, sha256 } => {
                no_dash("the archive URL", url)?;
                let hex = sha256
                    .chars()
                    .all(|character| character.is_ascii_hexdigit());
                if hex && sha256.len() == 64 {
                    Ok(())
                } else {
                    Err(format!(
                        "the sha256 `{sha256}` is not 64 hexadecimal digits"
                    ))
                }
            }
        }
    }

    /// The repository URL of a git source.
    pub fn git_url(&self) -> Option<&str> {
        match self {
            Source::Git { url, .. } => Some(url),
            _ => None,
        }
    }
}

impl fmt::Display for Selector {
    /// The selector as a requirement reads in a chain: `^1.4`, `tag v1.4.0`,
    /// `rev 3f2c1e9`, `branch main`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Version(requirement) => write!(formatter, "{requirement}"),
            Selector::Tag(tag) => write!(formatter, "tag {tag}"),
            Selector::Rev(rev) => write!(formatter, "rev {rev}"),
            Selector::Branch(branch) => write!(formatter, "branch {branch}"),
        }
    }
}

impl fmt::Display for Source {
    /// The canonical one-line form (see the module documentation).
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Git { url, selector } => {
                let (key, value) = match selector {
                    Selector::Version(requirement) => ("version", requirement.to_string()),
                    Selector::Tag(tag) => ("tag", tag.clone()),
                    Selector::Rev(rev) => ("rev", rev.clone()),
                    Selector::Branch(branch) => ("branch", branch.clone()),
                };
                write!(formatter, "git+{url}?{key}={value}")
            }
            Source::Path(path) => write!(formatter, "path+{}", path.display()),
            Source::Archive { url, sha256 } => write!(formatter, "archive+{url}#sha256={sha256}"),
        }
    }
}
