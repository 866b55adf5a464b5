//! The arguments of a `debian_packages` derivation as typed values, written by the
//! constructor and read by the builder through the same two types, so neither side
//! spells map keys or list positions by hand.
//!
//! [`PackageSet`] is hashed (it becomes `args`): the architecture and either the pinned
//! packages or, while the lock file lacks the set, the request's digest.
//! [`Locations`] is where the packages are found (it becomes `location`, never hashed):
//! the suites in repository order, the recipe's explicit repository URLs, each
//! package's repository and file name, and the recipe's mirrors.
//!
//! The canonical encoding is the one `kind_version` 1 has always had:
//!
//! ```text
//! args     = { architecture: str, packages: [[name, version, architecture, sha256, size]] }
//!          | { architecture: str, unlocked: request-digest }
//! location = { suites: [str], urls?: [str | ""], files?: [[repository, filename]],
//!              mirror?: str, security_mirror?: str }
//! ```

use std::collections::BTreeMap;

use imgbuild_evaluator::Value;

/// A package pinned by the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedPackage {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture (`amd64`, `all`).
    pub architecture: String,
    /// SHA-256 of the `.deb`, lowercase hex.
    pub sha256: String,
    /// Size of the `.deb`.
    pub size: u64,
}

/// What the set is (hashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSet {
    /// Target architecture.
    pub architecture: String,
    /// The pinned packages, or the digest of a request the lock does not answer.
    pub contents: Contents,
}

/// Pinned or not yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// The lock file's packages, in its order.
    Pinned(Vec<PinnedPackage>),
    /// Not in the lock file: a placeholder that cannot be built.
    Unlocked(String),
}

/// Where a package is found: the index of its repository and its path below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLocation {
    /// Index into [`Locations::suites`].
    pub repository: usize,
    /// Path below the repository's base URI.
    pub filename: String,
}

/// Where the set's packages are found (not hashed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locations {
    /// Suites, one per repository, in repository order.
    pub suites: Vec<String>,
    /// Per repository, an explicit base URL (a team's own repository) or "" (a mirror).
    pub urls: Vec<String>,
    /// One per pinned package, in the same order.
    pub files: Vec<FileLocation>,
    /// The recipe's mirror for non-security suites.
    pub mirror: Option<String>,
    /// The recipe's mirror for `*-security` suites.
    pub security_mirror: Option<String>,
}

fn strings(values: &[String]) -> Value {
    Value::List(values.iter().cloned().map(Value::String).collect())
}

fn read_strings(value: Option<&Value>) -> Option<Vec<String>> {
    value?
        .as_list()?
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect()
}

impl PackageSet {
    /// The derivation's `args`.
    pub fn to_args(&self) -> BTreeMap<String, Value> {
        let mut args = BTreeMap::new();
        args.insert(
            "architecture".to_owned(),
            Value::String(self.architecture.clone()),
        );
        match &self.contents {
            Contents::Pinned(packages) => {
                let list = packages
                    .iter()
                    .map(|package| {
                        Value::List(vec![
                            Value::String(package.name.clone()),
                            Value::String(package.version.clone()),
                            Value::String(package.architecture.clone()),
                            Value::String(package.sha256.clone()),
                            Value::Int(i64::try_from(package.size).unwrap_or(i64::MAX)),
                        ])
                    })
                    .collect();
                args.insert("packages".to_owned(), Value::List(list));
            }
            Contents::Unlocked(digest) => {
                args.insert("unlocked".to_owned(), Value::String(digest.clone()));
            }
        }
        args
    }

    /// Reads `args` back; the error names what is missing.
    pub fn from_args(args: &Value) -> Result<PackageSet, String> {
        let architecture = args
            .get("architecture")
            .and_then(Value::as_str)
            .ok_or("no architecture")?
            .to_owned();
        if let Some(digest) = args.get("unlocked").and_then(Value::as_str) {
            return Ok(PackageSet {
                architecture,
                contents: Contents::Unlocked(digest.to_owned()),
            });
        }
        let packages = args
            .get("packages")
            .and_then(Value::as_list)
            .ok_or("no packages")?
            .iter()
            .map(|entry| {
                let fields = entry.as_list().ok_or("a package entry is not a list")?;
                let text = |index: usize| {
                    fields
                        .get(index)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or("a package field is missing")
                };
                Ok(PinnedPackage {
                    name: text(0)?,
                    version: text(1)?,
                    architecture: text(2)?,
                    sha256: text(3)?,
                    size: fields
                        .get(4)
                        .and_then(Value::as_int)
                        .and_then(|size| u64::try_from(size).ok())
                        .ok_or("a package size is missing")?,
                })
            })
            .collect::<Result<_, &str>>()?;
        Ok(PackageSet {
            architecture,
            contents: Contents::Pinned(packages),
        })
    }
}

impl Locations {
    /// The derivation's `location`.
    pub fn to_value(&self) -> Value {
        let mut map = BTreeMap::new();
        map.insert("suites".to_owned(), strings(&self.suites));
        if !self.urls.is_empty() {
            map.insert("urls".to_owned(), strings(&self.urls));
        }
        if !self.files.is_empty() {
            let files = self
                .files
                .iter()
                .map(|file| {
                    Value::List(vec![
                        Value::Int(i64::try_from(file.repository).unwrap_or(i64::MAX)),
                        Value::String(file.filename.clone()),
                    ])
                })
                .collect();
            map.insert("files".to_owned(), Value::List(files));
        }
        for (key, value) in [
            ("mirror", &self.mirror),
            ("security_mirror", &self.security_mirror),
        ] {
            if let Some(value) = value {
                map.insert(key.to_owned(), Value::String(value.clone()));
            }
        }
        Value::Map(map)
    }

    /// Reads a `location` back; the error names what is malformed.
    pub fn from_value(location: &Value) -> Result<Locations, String> {
        let text = |key: &str| location.get(key).and_then(Value::as_str).map(str::to_owned);
        let files = match location.get("files") {
            None => Vec::new(),
            Some(files) => files
                .as_list()
                .ok_or("files is not a list")?
                .iter()
                .map(|file| {
                    let fields = file.as_list().ok_or("a file entry is not a list")?;
                    Ok(FileLocation {
                        repository: fields
                            .first()
                            .and_then(Value::as_int)
                            .and_then(|index| usize::try_from(index).ok())
                            .ok_or("a file entry has no repository")?,
                        filename: fields
                            .get(1)
                            .and_then(Value::as_str)
                            .ok_or("a file entry has no file name")?
                            .to_owned(),
                    })
                })
                .collect::<Result<_, &str>>()?,
        };
        Ok(Locations {
            suites: read_strings(location.get("suites")).ok_or("no suites")?,
            urls: match location.get("urls") {
                None => Vec::new(),
                urls => read_strings(urls).ok_or("urls is not a list of strings")?,
            },
            files,
            mirror: text("mirror"),
            security_mirror: text("security_mirror"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_halves_round_trip_through_canonical_values() {
        let set = PackageSet {
            architecture: "amd64".to_owned(),
            contents: Contents::Pinned(vec![PinnedPackage {
                name: "zlib1g".to_owned(),
                version: "1:1.2.13.dfsg-1".to_owned(),
                architecture: "amd64".to_owned(),
                sha256: "22".repeat(32),
                size: 2,
            }]),
        };
        let args = Value::Map(set.to_args());
        assert_eq!(PackageSet::from_args(&args), Ok(set));
        let unlocked = PackageSet {
            architecture: "arm64".to_owned(),
            contents: Contents::Unlocked("ab".to_owned()),
        };
        assert_eq!(
            PackageSet::from_args(&Value::Map(unlocked.to_args())),
            Ok(unlocked)
        );
        let locations = Locations {
            suites: vec!["bookworm".to_owned(), "stable".to_owned()],
            urls: vec![String::new(), "file:///srv/team".to_owned()],
            files: vec![FileLocation {
                repository: 1,
                filename: "pool/z.deb".to_owned(),
            }],
            mirror: Some("http://mirror.invalid/debian".to_owned()),
            security_mirror: None,
        };
        assert_eq!(Locations::from_value(&locations.to_value()), Ok(locations));
        assert!(PackageSet::from_args(&Value::Null).is_err());
    }

    #[test]
    fn the_encoding_of_the_arguments_is_unchanged() {
        // kind_version 1's layout: a change here changes every package set's identity.
        let set = PackageSet {
            architecture: "amd64".to_owned(),
            contents: Contents::Pinned(vec![PinnedPackage {
                name: "a".to_owned(),
                version: "1".to_owned(),
                architecture: "all".to_owned(),
                sha256: "00".to_owned(),
                size: 7,
            }]),
        };
        assert_eq!(
            Value::Map(set.to_args()).to_json().to_string(),
            r#"{"architecture":"amd64","packages":[["a","1","all","00",7]]}"#
        );
    }
}
