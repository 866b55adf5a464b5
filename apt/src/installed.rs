//! The packages installed in a root tree, read from its dpkg `status` file, and how two
//! such sets differ: the package half of `imgbuild diff A B`.
//!
//! `var/lib/dpkg/status` is deb822 (see [`crate::deb822`]): one paragraph per package
//! dpkg knows, with `Package`, `Status`, `Architecture`, `Version` and, when the source
//! package's name differs, `Source: NAME` or `Source: NAME (VERSION)`.
//!
//! The rules [`installed_packages`] applies:
//!
//! - `Status` is three words, `WANT FLAG STATE` (dpkg(1)): WANT one of `unknown`,
//!   `install`, `hold`, `deinstall`, `purge`; FLAG `ok` or `reinstreq`; STATE one of
//!   `not-installed`, `config-files`, `half-installed`, `unpacked`, `half-configured`,
//!   `triggers-awaited`, `triggers-pending`, `installed`. Anything else is refused.
//! - A package counts as installed when its STATE is `installed`, the state after a
//!   complete `dpkg --configure`: `install ok installed`, and also `hold ok installed`
//!   (held at its version) and `deinstall ok installed` (selected for removal, still
//!   there), which are as much on disk; or `unpacked`, whose files are on disk too:
//!   imgbuild's own package sets are unpacked, not configured (`install ok unpacked`,
//!   see [`crate::dpkg_db`]), and comparing two of them must list their packages.
//!   Every other paragraph (removed with its configuration kept, half-installed, ...) is
//!   skipped after its `Status` has been checked.
//! - An installed package needs `Package`, `Architecture` and a valid `Version`
//!   ([`crate::version`]); it is keyed `name:architecture` (`libc6:amd64`,
//!   `tzdata:all`), so the two halves of a `Multi-Arch: same` pair are two packages.
//!   The same key twice is refused.
//! - Every refusal names the 1-based line of the paragraph (or of the syntax error).
//!
//! [`compare_installed`] reports packages added, removed, upgraded and downgraded,
//! sorted by key, with versions ordered as dpkg orders them; two spellings of one
//! version (`1.0` and `0:1.0`) are no change.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::deb822::{paragraphs, Paragraph, SyntaxError};
use crate::version::{Version, VersionError};

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    /// The binary package's name.
    pub name: String,
    /// Its architecture (`amd64`, `all`, ...).
    pub architecture: String,
    /// Its version as written in the status file (a valid Debian version).
    pub version: String,
    /// The source package's name when the status file names one (without the source
    /// version some `Source` fields carry in parentheses).
    pub source: Option<String>,
}

impl InstalledPackage {
    /// The package's key: `name:architecture`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.name, self.architecture)
    }
}

/// Why a dpkg status file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstalledError {
    /// The text is not deb822.
    #[error("dpkg status line {}: {}", .0.line, .0.reason)]
    Syntax(SyntaxError),
    /// A paragraph lacks a field it needs.
    #[error("dpkg status line {line}: the paragraph has no `{field}` field")]
    MissingField {
        /// The paragraph's first line.
        line: usize,
        /// The missing field.
        field: &'static str,
    },
    /// A `Status` field is not `WANT FLAG STATE`.
    #[error("dpkg status line {line}: package `{package}` has the status `{status}`, which is not `WANT FLAG STATE` as dpkg writes it")]
    InvalidStatus {
        /// The paragraph's first line.
        line: usize,
        /// The package.
        package: String,
        /// The field's value.
        status: String,
    },
    /// An installed package's `Version` does not parse.
    #[error("dpkg status line {line}: package `{package}`: {source}")]
    InvalidVersion {
        /// The paragraph's first line.
        line: usize,
        /// The package.
        package: String,
        /// Why the version is invalid.
        source: VersionError,
    },
    /// An installed package's name or architecture is empty or contains white space
    /// or `:`.
    #[error("dpkg status line {line}: `{value}` is not a valid package {field}")]
    InvalidName {
        /// The paragraph's first line.
        line: usize,
        /// `name` or `architecture`.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// Two paragraphs install the same `name:architecture`.
    #[error("dpkg status line {line}: `{key}` is installed twice (first at line {first_line})")]
    Duplicate {
        /// The second paragraph's first line.
        line: usize,
        /// The first paragraph's first line.
        first_line: usize,
        /// The package key.
        key: String,
    },
}

/// How a package differs between two sets of installed packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageChange {
    /// Installed only in the second set.
    Added(InstalledPackage),
    /// Installed only in the first set.
    Removed(InstalledPackage),
    /// Installed in both, at a later version in the second.
    Upgraded {
        /// The package in the first set.
        before: InstalledPackage,
        /// The package in the second set.
        after: InstalledPackage,
    },
    /// Installed in both, at an earlier version in the second.
    Downgraded {
        /// The package in the first set.
        before: InstalledPackage,
        /// The package in the second set.
        after: InstalledPackage,
    },
}

impl PackageChange {
    /// The `name:architecture` key of the package that changed.
    pub fn key(&self) -> String {
        match self {
            PackageChange::Added(package) | PackageChange::Removed(package) => package.key(),
            PackageChange::Upgraded { after, .. } | PackageChange::Downgraded { after, .. } => {
                after.key()
            }
        }
    }
}

const WANTS: &[&str] = &["unknown", "install", "hold", "deinstall", "purge"];
const FLAGS: &[&str] = &["ok", "reinstreq"];
const STATES: &[&str] = &[
    "not-installed",
    "config-files",
    "half-installed",
    "unpacked",
    "half-configured",
    "triggers-awaited",
    "triggers-pending",
    "installed",
];

/// Packages whose `Status` is `install ok installed` in a dpkg status file (deb822),
/// or another `WANT FLAG installed` (held, selected for removal), keyed
/// `name:architecture`.
pub fn installed_packages(
    status: &str,
) -> Result<BTreeMap<String, InstalledPackage>, InstalledError> {
    let mut installed = BTreeMap::new();
    let mut first_lines: BTreeMap<String, usize> = BTreeMap::new();
    for paragraph in paragraphs(status) {
        let paragraph = paragraph.map_err(InstalledError::Syntax)?;
        let Some(package) = installed_package(&paragraph)? else {
            continue;
        };
        let key = package.key();
        if let Some(first_line) = first_lines.get(&key) {
            return Err(InstalledError::Duplicate {
                line: paragraph.line(),
                first_line: *first_line,
                key,
            });
        }
        first_lines.insert(key.clone(), paragraph.line());
        installed.insert(key, package);
    }
    Ok(installed)
}

/// The paragraph's package if it is installed, `None` for any other checked status.
fn installed_package(
    paragraph: &Paragraph<'_>,
) -> Result<Option<InstalledPackage>, InstalledError> {
    let line = paragraph.line();
    let field = |field: &'static str| {
        paragraph
            .get(field)
            .ok_or(InstalledError::MissingField { line, field })
    };
    let name = field("Package")?;
    let status = field("Status")?;
    let words: Vec<&str> = status.split_whitespace().collect();
    let valid = matches!(words.as_slice(), [want, flag, state]
        if WANTS.contains(want) && FLAGS.contains(flag) && STATES.contains(state));
    if !valid {
        return Err(InstalledError::InvalidStatus {
            line,
            package: name.to_owned(),
            status: status.to_owned(),
        });
    }
    if !matches!(words.last(), Some(&"installed" | &"unpacked")) {
        return Ok(None);
    }
    let architecture = field("Architecture")?;
    for (kind, value) in [("name", name), ("architecture", architecture)] {
        if value.is_empty()
            || value.contains(|character: char| character.is_whitespace() || character == ':')
        {
            return Err(InstalledError::InvalidName {
                line,
                field: kind,
                value: value.to_owned(),
            });
        }
    }
    let version = field("Version")?;
    Version::parse(version).map_err(|source| InstalledError::InvalidVersion {
        line,
        package: name.to_owned(),
        source,
    })?;
    let source = paragraph
        .get("Source")
        .and_then(|source| source.split_whitespace().next())
        .map(str::to_owned);
    Ok(Some(InstalledPackage {
        name: name.to_owned(),
        architecture: architecture.to_owned(),
        version: version.trim().to_owned(),
        source,
    }))
}

/// The packages added, removed, upgraded and downgraded from `before` to `after`,
/// sorted by package key; versions compared with dpkg's ordering ([`Version`]).
///
/// A version that does not parse (only possible for packages not read by
/// [`installed_packages`]) is compared with the other by its text.
pub fn compare_installed(
    before: &BTreeMap<String, InstalledPackage>,
    after: &BTreeMap<String, InstalledPackage>,
) -> Vec<PackageChange> {
    let mut changes = Vec::new();
    let mut before_entries = before.iter().peekable();
    let mut after_entries = after.iter().peekable();
    loop {
        let order = match (before_entries.peek(), after_entries.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((old, _)), Some((new, _))) => old.cmp(new),
        };
        match order {
            Ordering::Less => {
                if let Some((_, package)) = before_entries.next() {
                    changes.push(PackageChange::Removed(package.clone()));
                }
            }
            Ordering::Greater => {
                if let Some((_, package)) = after_entries.next() {
                    changes.push(PackageChange::Added(package.clone()));
                }
            }
            Ordering::Equal => {
                let (Some((_, old)), Some((_, new))) =
                    (before_entries.next(), after_entries.next())
                else {
                    break;
                };
                let before = old.clone();
                let after = new.clone();
                match compare_versions(&old.version, &new.version) {
                    Ordering::Less => changes.push(PackageChange::Upgraded { before, after }),
                    Ordering::Greater => changes.push(PackageChange::Downgraded { before, after }),
                    Ordering::Equal => {}
                }
            }
        }
    }
    changes
}

fn compare_versions(before: &str, after: &str) -> Ordering {
    match (Version::parse(before), Version::parse(after)) {
        (Ok(before), Ok(after)) => before.cmp(&after),
        _ => before.cmp(after),
    }
}
