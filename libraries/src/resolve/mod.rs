//! The resolver: from a root [`Manifest`] to a [`Resolution`] holding one copy of
//! every library the project needs, directly or through other libraries.
//!
//! Resolution runs in rounds. A round walks the graph breadth-first from the root
//! (manifests in name order), choosing a commit for each library when it is first
//! reached — the previous round's choice if there is one — and reading that commit's
//! own `imgbuild.toml` for its requirements. At the end of the round every library is
//! chosen again from *all* requirements now known (the `choose` module); when nothing changes
//! the graph is final, otherwise the next round walks it with the new choices (a
//! tighter range found late can change an earlier choice and so the requirements
//! below it). Tag lists, fetched trees and hashes are cached across rounds.
//!
//! **Invariants:** one copy per name — every requirement on a name is satisfied by the
//! single chosen source, or resolution fails with [`LibraryError::Conflict`] naming
//! every requirement chain; a cycle is [`LibraryError::Cycle`]; `[patch]` is honoured
//! in the root manifest only, and overrides (`--override NAME=PATH`) win over both;
//! offline, nothing is resolved or fetched — the lock and the cache must answer.

mod choose;
mod import;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use semver::Version;

use crate::error::{LibraryError, Result};
use crate::lock::LockSection;
use crate::manifest::{Manifest, MANIFEST_NAME};
use crate::source::Source;

use choose::{Choice, Chooser};

/// Whether the network may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Resolve and fetch what the lock and the cache do not answer, and check that
    /// every locked tag still points to its commit (`imgbuild lock`).
    Online,
    /// As `Online`, but a locked library whose tree is already cached is used without
    /// asking its repository again (builds: the lock pins the commit and the cached
    /// tree is checked against the locked hash; a moved tag is found by `imgbuild lock`
    /// and whenever the tree has to be fetched).
    Cached,
    /// Use only the lock and the cache; anything else is an error.
    Offline,
}

/// Which locked libraries to resolve again (`imgbuild lock --update [NAME]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Update {
    /// None: follow the lock where it matches the manifests.
    #[default]
    Nothing,
    /// Every library.
    All,
    /// These libraries.
    Names(BTreeSet<String>),
}

impl Update {
    fn includes(&self, name: &str) -> bool {
        match self {
            Update::Nothing => false,
            Update::All => true,
            Update::Names(names) => names.contains(name),
        }
    }
}

/// The resolved library graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Every library, by name.
    pub libraries: BTreeMap<String, Resolved>,
    /// The libraries the root manifest names itself (what its recipes may import).
    pub direct: Vec<String>,
}

/// One resolved library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The source as written in the manifest that decided it (the root's `[patch]`
    /// entry, or the first requirement reached), or the override.
    pub source: Source,
    /// The exact commit, for git sources.
    pub commit: Option<String>,
    /// The version: from the `vX.Y.Z` tag, else from the library's `[library]`.
    pub version: Option<Version>,
    /// The content hash of its files ([`crate::tree_hash`]).
    pub hash: String,
    /// The directory holding its files (in the cache for fetched libraries).
    pub path: PathBuf,
    /// Who requires it: library names, and the root's name (its `[library] name`, else
    /// its directory's name), sorted.
    pub importers: Vec<String>,
    /// The libraries its own manifest names (what its recipes may import), sorted.
    pub dependencies: Vec<String>,
    /// True when forced by an override: such a library does not touch the lock.
    pub overridden: bool,
}

/// One requirement on a library, with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Requirement {
    /// The source as written.
    pub source: Source,
    /// The directory relative paths are resolved against.
    pub base: PathBuf,
    /// For a requirement made by a fetched library: that library's tree, which a path
    /// source must not leave.
    pub confined_to: Option<PathBuf>,
    /// For a requirement made by a library fetched from git: that repository's URL, which
    /// a relative git URL (`../tools.git`) is resolved against, as git does for
    /// submodules.
    pub origin: Option<String>,
    /// The names from the root to the requirer, e.g. `["web", "tools"]`.
    pub chain: Vec<String>,
    /// Where it is written: `path/imgbuild.toml:LINE` for the root and local
    /// libraries, `imgbuild.toml:LINE of NAME` for a fetched one.
    pub location: String,
}

impl Requirement {
    /// The URL git is given for the git source `written` of this requirement: a
    /// relative one (`./x`, `../x`) is resolved against the manifest's directory, or
    /// for a fetched library against its repository's URL; others are used as written.
    pub fn effective_url(&self, written: &str) -> String {
        if !(written.starts_with("./") || written.starts_with("../")) {
            return written.to_owned();
        }
        match &self.origin {
            None => join_path(&self.base.to_string_lossy(), written),
            Some(origin) => match origin.split_once("://") {
                Some((scheme, rest)) => {
                    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                    let joined = join_path(&format!("/{path}"), written);
                    format!("{scheme}://{host}{joined}")
                }
                None => join_path(origin, written),
            },
        }
    }

    /// `web → tools → base ^2 (imgbuild.toml:3 of tools)`.
    pub fn describe(&self, name: &str) -> String {
        let what = match &self.source {
            Source::Git { selector, .. } => selector.to_string(),
            Source::Path(path) => format!("path {}", path.display()),
            Source::Archive { url, .. } => format!("archive {url}"),
        };
        format!(
            "{} → {name} {what} ({})",
            self.chain.join(" → "),
            self.location
        )
    }
}

/// `base` joined with the relative `path`, `.` and `..` applied (never above `/`).
fn join_path(base: &str, path: &str) -> String {
    let absolute = base.starts_with('/');
    let mut parts: Vec<&str> = base.split('/').filter(|part| !part.is_empty()).collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// How many rounds may pass before resolution is declared unsettled.
const MAX_ROUNDS: usize = 10;

/// Resolves the library graph of the root `manifest`.
///
/// Fetched trees and git mirrors go under `cache_dir`. With a `lock`, a library whose
/// entry matches the manifests (and is not named by `update`) keeps its locked commit;
/// online, a tag it came from must still point to that commit; its content must still
/// hash to the locked hash. `overrides` force a local directory for a name. Archive
/// sources are downloaded with `download`.
pub fn resolve(
    manifest: &Manifest,
    cache_dir: &Path,
    lock: Option<&LockSection>,
    mode: Mode,
    update: &Update,
    overrides: &BTreeMap<String, PathBuf>,
    download: &dyn crate::archive::Download,
) -> Result<Resolution> {
    if mode == Mode::Offline && *update != Update::Nothing {
        return Err(LibraryError::OfflineUpdate);
    }
    // The root is a node of the graph under its `[library] name` when it declares one
    // (a library requiring it is then a cycle); otherwise under a key no library name
    // can take, shown in chains as its directory's name.
    let declared = manifest
        .library
        .as_ref()
        .map(|library| library.name.clone());
    let root = Node {
        key: declared.clone().unwrap_or_else(|| UNNAMED_ROOT.to_owned()),
        display: declared
            .or_else(|| {
                manifest
                    .directory()
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "root".to_owned()),
    };
    let mut chooser = Chooser {
        root: manifest,
        cache_dir,
        lock,
        mode,
        update,
        overrides,
        download,
        tags: HashMap::new(),
        hashes: HashMap::new(),
    };
    let mut previous: BTreeMap<String, Choice> = BTreeMap::new();
    let mut last_changed = String::new();
    for _ in 0..MAX_ROUNDS {
        let round = walk(&mut chooser, manifest, &root, &previous)?;
        let mut settled = BTreeMap::new();
        for (name, requirements) in &round.requirements {
            settled.insert(name.clone(), chooser.choose(name, requirements)?);
        }
        let changed: Vec<&String> = settled
            .iter()
            .filter(|(name, choice)| round.used.get(*name) != Some(*choice))
            .map(|(name, _)| name)
            .collect();
        if changed.is_empty() {
            find_cycle(&root, &round.edges)?;
            if let Update::Names(names) = update {
                if let Some(unknown) = names.iter().find(|name| !settled.contains_key(*name)) {
                    return Err(LibraryError::UnknownUpdate {
                        name: unknown.clone(),
                        known: settled.keys().cloned().collect(),
                    });
                }
            }
            return Ok(finish(&round, &root, settled));
        }
        last_changed = changed
            .iter()
            .map(|name| name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        previous = settled;
    }
    Err(LibraryError::Unsettled {
        rounds: MAX_ROUNDS,
        names: last_changed,
    })
}

/// What one round of the walk found.
struct Round {
    requirements: BTreeMap<String, Vec<Requirement>>,
    used: BTreeMap<String, Choice>,
    edges: BTreeMap<String, BTreeSet<String>>,
}

/// A manifest waiting to be walked.
struct Visit {
    manifest: Manifest,
    /// Its node's key.
    key: String,
    /// Names from the root to it.
    chain: Vec<String>,
    /// A fetched library's tree, which its path sources must not leave.
    confined_to: Option<PathBuf>,
    /// A library fetched from git: the repository URL (for relative git URLs).
    origin: Option<String>,
}

fn walk(
    chooser: &mut Chooser<'_>,
    root: &Manifest,
    root_node: &Node,
    previous: &BTreeMap<String, Choice>,
) -> Result<Round> {
    let mut round = Round {
        requirements: BTreeMap::new(),
        used: BTreeMap::new(),
        edges: BTreeMap::new(),
    };
    let mut queue: VecDeque<Visit> = VecDeque::new();
    queue.push_back(Visit {
        manifest: root.clone(),
        key: root_node.key.clone(),
        chain: vec![root_node.display.clone()],
        confined_to: None,
        origin: None,
    });
    while let Some(Visit {
        manifest,
        key,
        chain,
        confined_to,
        origin,
    }) = queue.pop_front()
    {
        for (name, entry) in &manifest.libraries {
            round
                .edges
                .entry(key.clone())
                .or_default()
                .insert(name.clone());
            if *name == root_node.key {
                // A requirement on the root itself: a cycle, reported once settled.
                continue;
            }
            let requirement = Requirement {
                source: entry.source.clone(),
                base: manifest.directory().to_path_buf(),
                confined_to: confined_to.clone(),
                origin: origin.clone(),
                chain: chain.clone(),
                location: match confined_to {
                    None => format!("{}:{}", manifest.path.display(), entry.line),
                    Some(_) => format!(
                        "{MANIFEST_NAME}:{} of {}",
                        entry.line,
                        chain.last().map_or("?", String::as_str)
                    ),
                },
            };
            let known = round.requirements.entry(name.clone()).or_default();
            known.push(requirement);
            if round.used.contains_key(name) {
                continue;
            }
            let choice = match previous.get(name) {
                Some(choice) => choice.clone(),
                None => chooser.choose(name, known)?,
            };
            let library_manifest = read_library_manifest(&choice.path)?;
            let mut library_chain = chain.clone();
            library_chain.push(name.clone());
            let confinement = choice.commit.as_ref().map(|_| choice.path.clone());
            let library_origin = choice.url.clone();
            round.used.insert(name.clone(), choice);
            queue.push_back(Visit {
                manifest: library_manifest,
                key: name.clone(),
                chain: library_chain,
                confined_to: confinement,
                origin: library_origin,
            });
        }
    }
    Ok(round)
}

fn read_library_manifest(directory: &Path) -> Result<Manifest> {
    let path = directory.join(MANIFEST_NAME);
    if !path.is_file() {
        return Err(LibraryError::BadLibrary {
            path: directory.to_path_buf(),
            problem: format!("a library needs its own {MANIFEST_NAME}, and there is none"),
        });
    }
    Manifest::read(&path)
}

fn finish(round: &Round, root: &Node, settled: BTreeMap<String, Choice>) -> Resolution {
    let names_of = |key: &str| -> Vec<String> {
        round
            .edges
            .get(key)
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default()
    };
    let libraries = settled
        .into_iter()
        .map(|(name, choice)| {
            let importers: BTreeSet<String> = round
                .requirements
                .get(&name)
                .into_iter()
                .flatten()
                .filter_map(|requirement| requirement.chain.last().cloned())
                .collect();
            let resolved = Resolved {
                source: choice.source,
                commit: choice.commit,
                version: choice.version,
                hash: choice.hash,
                path: choice.path,
                importers: importers.into_iter().collect(),
                dependencies: names_of(&name),
                overridden: choice.overridden,
            };
            (name, resolved)
        })
        .collect();
    Resolution {
        libraries,
        direct: names_of(&root.key),
    }
}

/// The key of an unnamed root in the graph: not a valid library name.
const UNNAMED_ROOT: &str = "<root>";

/// The root project as a node of the graph.
struct Node {
    /// Its key among library names.
    key: String,
    /// How chains show it.
    display: String,
}

/// Fails with the first cycle reachable from `root` in `edges`.
fn find_cycle(root: &Node, edges: &BTreeMap<String, BTreeSet<String>>) -> Result<()> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Result<()> {
        if let Some(start) = stack.iter().position(|entry| entry == node) {
            let mut cycle = stack[start..].to_vec();
            cycle.push(node.to_owned());
            return Err(LibraryError::Cycle { cycle });
        }
        if done.contains(node) {
            return Ok(());
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, stack, done)?;
        }
        stack.pop();
        done.insert(node.to_owned());
        Ok(())
    }
    visit(&root.key, edges, &mut Vec::new(), &mut BTreeSet::new())
}
