//! Choosing the one source, commit and tree of a library from every requirement on it:
//! overrides, the root's `[patch]`, agreement between requirements, the lock (followed
//! and verified), version selection over `vX.Y.Z` tags, fetching git commits and
//! archives into the cache (`trees/<commit>`, `archives/<sha256>`) and hashing.
//!
//! **Invariants:** a locked entry is followed only when its source as written is the
//! one the manifests now require and its version satisfies every range; online, a tag
//! it came from must still point to the locked commit ([`LibraryError::TagMoved`]);
//! a fetched tree must hash to the locked hash ([`LibraryError::HashMismatch`]);
//! offline, nothing is resolved or fetched. Trees are published in the cache under
//! their commit id by renaming a finished directory, so a killed fetch leaves no
//! partial tree where a later run would take it for complete.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use semver::{Version, VersionReq};

use crate::archive;
use crate::error::{IoResultExt, LibraryError, Result};
use crate::git;
use crate::hash::tree_hash;
use crate::lock::{LockSection, LockedLibrary};
use crate::manifest::{Manifest, MANIFEST_NAME};
use crate::source::{Selector, Source};

use super::{Mode, Requirement, Update};

/// What was chosen for one library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choice {
    pub source: Source,
    pub commit: Option<String>,
    pub version: Option<Version>,
    pub hash: String,
    pub path: PathBuf,
    pub overridden: bool,
    /// The repository URL git was given (relative URLs resolved), for git sources.
    pub url: Option<String>,
}

/// The inputs of a resolution and what it has learned so far (tag lists, hashes).
pub(crate) struct Chooser<'a> {
    pub root: &'a Manifest,
    pub cache_dir: &'a Path,
    pub lock: Option<&'a LockSection>,
    pub mode: Mode,
    pub update: &'a Update,
    pub overrides: &'a BTreeMap<String, PathBuf>,
    pub download: &'a dyn archive::Download,
    pub tags: HashMap<String, Vec<(String, String)>>,
    pub hashes: HashMap<PathBuf, String>,
}

impl Chooser<'_> {
    /// The choice for `name` given every requirement known on it.
    pub fn choose(&mut self, name: &str, requirements: &[Requirement]) -> Result<Choice> {
        if let Some(directory) = self.overrides.get(name) {
            return self.local(Source::Path(directory.clone()), directory, true);
        }
        let patched;
        let deciding: &[Requirement] = match self.root.patches.get(name) {
            Some(entry) => {
                patched = [Requirement {
                    source: entry.source.clone(),
                    base: self.root.directory().to_path_buf(),
                    confined_to: None,
                    origin: None,
                    chain: vec!["[patch]".to_owned()],
                    location: format!("{}:{}", self.root.path.display(), entry.line),
                }];
                &patched
            }
            None => requirements,
        };
        let Some(first) = deciding.first() else {
            return Err(LibraryError::BadLibrary {
                path: self.root.path.clone(),
                problem: format!("library `{name}` is required by nothing"),
            });
        };
        let conflict = || LibraryError::Conflict {
            name: name.to_owned(),
            chains: deciding
                .iter()
                .map(|requirement| requirement.describe(name))
                .collect(),
        };
        match &first.source {
            Source::Path(_) => {
                let directory = local_directory(first)?;
                for other in &deciding[1..] {
                    let same = matches!(other.source, Source::Path(_))
                        && canonical(&local_directory(other)?)? == canonical(&directory)?;
                    if !same {
                        return Err(conflict());
                    }
                }
                self.local(first.source.clone(), &directory, false)
            }
            Source::Archive { url, sha256 } => {
                // The SHA-256 is the identity; URLs are only locations.
                for other in &deciding[1..] {
                    let same = matches!(&other.source,
                        Source::Archive { sha256: other, .. } if other.eq_ignore_ascii_case(sha256));
                    if !same {
                        return Err(conflict());
                    }
                }
                self.archive(name, &first.source, url, sha256)
            }
            Source::Git { url, .. } => {
                let url = first.effective_url(url);
                let mut ranges: Vec<&VersionReq> = Vec::new();
                let mut pin: Option<&Selector> = None;
                for requirement in deciding {
                    let Source::Git {
                        url: other_url,
                        selector,
                    } = &requirement.source
                    else {
                        return Err(conflict());
                    };
                    let other_url = requirement.effective_url(other_url);
                    if other_url.trim_end_matches('/') != url.trim_end_matches('/') {
                        return Err(conflict());
                    }
                    match selector {
                        Selector::Version(range) => ranges.push(range),
                        other => match pin {
                            Some(existing) if existing != other => return Err(conflict()),
                            _ => pin = Some(other),
                        },
                    }
                }
                self.git(name, deciding, &url, pin, &ranges)
            }
        }
    }

    fn git(
        &mut self,
        name: &str,
        deciding: &[Requirement],
        url: &str,
        pin: Option<&Selector>,
        ranges: &[&VersionReq],
    ) -> Result<Choice> {
        let first = &deciding[0];
        let source = first.source.clone();
        let written = source.to_string();
        let satisfies_all = |version: &Version| ranges.iter().all(|range| range.matches(version));
        let conflict = || LibraryError::Conflict {
            name: name.to_owned(),
            chains: deciding
                .iter()
                .map(|requirement| requirement.describe(name))
                .collect(),
        };
        let locked: Option<LockedLibrary> = self
            .lock
            .and_then(|lock| lock.get(name))
            .filter(|entry| !self.update.includes(name) && entry.source == written)
            .filter(|entry| entry.commit.as_deref().is_some_and(git::is_full_commit))
            .filter(|entry| {
                ranges.is_empty()
                    || entry
                        .version
                        .as_deref()
                        .and_then(|text| Version::parse(text).ok())
                        .is_some_and(|version| satisfies_all(&version))
            })
            .cloned();
        let (commit, version) = match (&locked, self.mode) {
            (Some(entry), mode) => {
                let commit = entry.commit.clone().unwrap_or_default();
                let version = entry
                    .version
                    .as_deref()
                    .and_then(|text| Version::parse(text).ok());
                let tag = match (pin, &version) {
                    (Some(Selector::Tag(tag)), _) => Some(tag.clone()),
                    (None, Some(version)) => Some(format!("v{version}")),
                    _ => None,
                };
                let ask = match mode {
                    Mode::Online => true,
                    Mode::Cached => !self.cache_dir.join("trees").join(&commit).is_dir(),
                    Mode::Offline => false,
                };
                if let (Some(tag), true) = (tag, ask) {
                    let now = self
                        .tags(url)?
                        .iter()
                        .find(|(name, _)| *name == tag)
                        .map(|(_, commit)| commit.clone());
                    if now.as_deref() != Some(commit.as_str()) {
                        return Err(LibraryError::TagMoved {
                            name: name.to_owned(),
                            url: url.to_owned(),
                            tag,
                            locked: commit,
                            now: now.unwrap_or_else(|| "nothing (the tag is gone)".to_owned()),
                        });
                    }
                }
                (commit, version)
            }
            (None, Mode::Offline) => {
                return Err(LibraryError::LockMismatch {
                    name: name.to_owned(),
                    manifest_source: written,
                    locked_source: self
                        .lock
                        .and_then(|lock| lock.get(name))
                        .map(|entry| entry.source.clone()),
                })
            }
            (None, Mode::Online | Mode::Cached) => match pin {
                Some(selector) => {
                    let mirror = self.mirror(url);
                    let commit = git::resolve(url, selector, &mirror, &first.describe(name))?;
                    let version = match selector {
                        Selector::Tag(tag) => git::tag_version(tag),
                        _ => None,
                    };
                    if !ranges.is_empty() && !version.as_ref().is_some_and(satisfies_all) {
                        return Err(conflict());
                    }
                    (commit, version)
                }
                None => {
                    let (commit, version) = self.highest(name, deciding, url, ranges)?;
                    (commit, Some(version))
                }
            },
        };
        let path = self.fetch(name, url, &commit)?;
        let hash = self.hash(&path)?;
        if let Some(entry) = &locked {
            if entry.hash != hash {
                return Err(LibraryError::HashMismatch {
                    name: name.to_owned(),
                    location: format!("commit {commit} of `{url}` (in {})", path.display()),
                    expected: entry.hash.clone(),
                    actual: hash,
                });
            }
        }
        let version = version.or_else(|| declared_version(&path));
        Ok(Choice {
            source,
            commit: Some(commit),
            version,
            hash,
            path,
            overridden: false,
            url: Some(url.to_owned()),
        })
    }

    /// An archive source: followed from the cache when there, downloaded otherwise
    /// (online only); its tree must hash as locked.
    fn archive(&mut self, name: &str, source: &Source, url: &str, sha256: &str) -> Result<Choice> {
        let written = source.to_string();
        let locked = self
            .lock
            .and_then(|lock| lock.get(name))
            .filter(|entry| !self.update.includes(name) && entry.source == written)
            .cloned();
        if locked.is_none() && self.mode == Mode::Offline {
            return Err(LibraryError::LockMismatch {
                name: name.to_owned(),
                manifest_source: written,
                locked_source: self
                    .lock
                    .and_then(|lock| lock.get(name))
                    .map(|entry| entry.source.clone()),
            });
        }
        let archives = self.cache_dir.join("archives");
        let tree = archives.join(sha256.to_ascii_lowercase());
        if !tree.is_dir() {
            if self.mode == Mode::Offline {
                return Err(LibraryError::NotCached {
                    name: name.to_owned(),
                    url: url.to_owned(),
                    what: format!("the archive sha256:{sha256}"),
                });
            }
            let bytes = archive::download(name, url, sha256, self.download)?;
            let partial = archives.join(format!(".partial-{sha256}-{}", std::process::id()));
            if partial.exists() {
                std::fs::remove_dir_all(&partial).at("remove directory", &partial)?;
            }
            let root = archive::unpack(&bytes, &partial)?;
            publish(&root, &tree)?;
            if partial.exists() {
                std::fs::remove_dir_all(&partial).at("remove directory", &partial)?;
            }
        }
        let hash = self.hash(&tree)?;
        if let Some(entry) = &locked {
            if entry.hash != hash {
                return Err(LibraryError::HashMismatch {
                    name: name.to_owned(),
                    location: format!("the archive `{url}` (in {})", tree.display()),
                    expected: entry.hash.clone(),
                    actual: hash,
                });
            }
        }
        Ok(Choice {
            source: source.clone(),
            commit: None,
            version: declared_version(&tree),
            hash,
            path: tree,
            overridden: false,
            url: None,
        })
    }

    /// The highest `vX.Y.Z` tag satisfying every range: its commit and version.
    fn highest(
        &mut self,
        name: &str,
        deciding: &[Requirement],
        url: &str,
        ranges: &[&VersionReq],
    ) -> Result<(String, Version)> {
        let tags = self.tags(url)?.clone();
        let versions: Vec<(Version, &String)> = tags
            .iter()
            .filter_map(|(tag, commit)| git::tag_version(tag).map(|version| (version, commit)))
            .collect();
        let best = versions
            .iter()
            .filter(|(version, _)| ranges.iter().all(|range| range.matches(version)))
            .max_by(|left, right| left.0.cmp(&right.0));
        if let Some((version, commit)) = best {
            return Ok(((*commit).clone(), version.clone()));
        }
        // One requirement that nothing satisfies on its own is "no match"; ranges that
        // each match something but not together are a conflict.
        for requirement in deciding {
            if let Source::Git {
                selector: Selector::Version(range),
                ..
            } = &requirement.source
            {
                if !versions.iter().any(|(version, _)| range.matches(version)) {
                    return Err(LibraryError::NoMatch {
                        chain: requirement.describe(name),
                        url: url.to_owned(),
                        what: format!("tag matching {range}"),
                        available: tags.iter().map(|(tag, _)| tag.clone()).collect(),
                    });
                }
            }
        }
        Err(LibraryError::Conflict {
            name: name.to_owned(),
            chains: deciding
                .iter()
                .map(|requirement| requirement.describe(name))
                .collect(),
        })
    }

    fn tags(&mut self, url: &str) -> Result<&Vec<(String, String)>> {
        if !self.tags.contains_key(url) {
            let tags = git::ls_remote_tags(url)?;
            self.tags.insert(url.to_owned(), tags);
        }
        Ok(&self.tags[url])
    }

    fn mirror(&self, url: &str) -> PathBuf {
        let digest = blake3::hash(url.as_bytes()).to_hex();
        self.cache_dir.join("git").join(&digest.as_str()[..32])
    }

    /// The cached tree of `commit`, fetched first when online.
    fn fetch(&self, name: &str, url: &str, commit: &str) -> Result<PathBuf> {
        let trees = self.cache_dir.join("trees");
        let tree = trees.join(commit);
        if tree.is_dir() {
            return Ok(tree);
        }
        if self.mode == Mode::Offline {
            return Err(LibraryError::NotCached {
                name: name.to_owned(),
                url: url.to_owned(),
                what: format!("commit {commit}"),
            });
        }
        std::fs::create_dir_all(&trees).at("create directory", &trees)?;
        let partial = trees.join(format!(".partial-{commit}-{}", std::process::id()));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).at("remove directory", &partial)?;
        }
        git::fetch_tree(url, commit, &self.mirror(url), &partial)?;
        publish(&partial, &tree)?;
        Ok(tree)
    }

    fn hash(&mut self, directory: &Path) -> Result<String> {
        if let Some(hash) = self.hashes.get(directory) {
            return Ok(hash.clone());
        }
        let hash = tree_hash(directory)?;
        self.hashes.insert(directory.to_path_buf(), hash.clone());
        Ok(hash)
    }

    /// A library in a local directory (path source or override): never locked by
    /// content, since it is the user's working copy.
    fn local(&mut self, source: Source, directory: &Path, overridden: bool) -> Result<Choice> {
        let path = canonical(directory)?;
        let hash = self.hash(&path)?;
        Ok(Choice {
            source,
            commit: None,
            version: declared_version(&path),
            hash,
            path,
            overridden,
            url: None,
        })
    }
}

/// Moves the finished directory `finished` to `tree`; when another process published
/// the same tree meanwhile, keeps theirs.
fn publish(finished: &Path, tree: &Path) -> Result<()> {
    if let Err(error) = std::fs::rename(finished, tree) {
        if !tree.is_dir() {
            return Err(error).at("publish fetched tree", tree);
        }
        std::fs::remove_dir_all(finished).at("remove directory", finished)?;
    }
    Ok(())
}

/// The directory a path requirement names; one made inside a fetched library must
/// stay inside it.
fn local_directory(requirement: &Requirement) -> Result<PathBuf> {
    let Source::Path(relative) = &requirement.source else {
        return Ok(requirement.base.clone());
    };
    if let Some(tree) = &requirement.confined_to {
        let escapes = relative
            .components()
            .any(|component| !matches!(component, Component::Normal(_) | Component::CurDir));
        if escapes {
            return Err(LibraryError::BadLibrary {
                path: tree.join(MANIFEST_NAME),
                problem: format!(
                    "path `{}` leaves the fetched library (only paths inside it are allowed)",
                    relative.display()
                ),
            });
        }
    }
    Ok(requirement.base.join(relative))
}

fn canonical(directory: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(directory).map_err(|error| LibraryError::BadLibrary {
        path: directory.to_path_buf(),
        problem: format!("not a library directory: {error}"),
    })
}

/// The `[library] version` of the library in `directory`, if it declares one.
fn declared_version(directory: &Path) -> Option<Version> {
    Manifest::read(&directory.join(MANIFEST_NAME))
        .ok()
        .and_then(|manifest| manifest.library)
        .and_then(|library| library.version)
}
