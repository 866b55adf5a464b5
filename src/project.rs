//! The project around a recipe: its `imgbuild.toml` (found by walking up from the
//! recipe, like `Cargo.toml`), its lock file, and its recipe libraries resolved,
//! fetched into the store and checked against the lock before evaluation.
//!
//! - A recipe inside a project (a directory with `imgbuild.toml` above it) uses the
//!   project's one lock, `imgbuild.lock` beside the manifest: the library pins and the
//!   package-set pins of all the project's recipes. A recipe outside any project keeps
//!   its own `RECIPE.lock`.
//! - Libraries are fetched into `STORE/libraries/` (git mirrors, `trees/COMMIT`,
//!   `archives/SHA256`): a commit id and an archive's SHA-256 name their content, so
//!   every project on the machine shares one copy, and each tree is checked against the
//!   lock's BLAKE3 hash whenever it is used. `--offline` builds work once fetched.
//! - A library the lock does not answer is resolved here, by `build`, `eval` and
//!   `graph` as by `lock`, and the lock is written; `--offline` resolves nothing and a
//!   lock that no longer matches the manifest is an error naming the manifest line.
//!
//! **Invariant:** nothing here is part of a derivation's identity: a library's files
//! matter only through what the recipe makes of them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use imgbuild_builtins::lock::LockFile;
use imgbuild_libraries::{LibraryError, LockSection, Manifest, Mode, Resolution, Update};

use crate::errors::Failure;

/// Where a recipe's project is.
#[derive(Debug)]
pub struct Project {
    /// The manifest, when the recipe is inside a project.
    pub manifest: Option<Manifest>,
    /// The lock file this recipe reads and writes.
    pub lock_path: PathBuf,
}

impl Project {
    /// The project of `recipe` (which need not exist: then its directory's).
    pub fn find(recipe: &Path) -> Result<Project, Failure> {
        let absolute = std::path::absolute(recipe).unwrap_or_else(|_| recipe.to_path_buf());
        match Manifest::find(&absolute).map_err(library_failure)? {
            Some((path, manifest)) => Ok(Project {
                lock_path: path.with_file_name(LOCK_NAME),
                manifest: Some(manifest),
            }),
            None => Ok(Project {
                manifest: None,
                lock_path: imgbuild_builtins::lock::path_for(recipe),
            }),
        }
    }
}

/// The lock file of a project.
pub const LOCK_NAME: &str = "imgbuild.lock";

/// How to resolve a project's libraries.
pub struct Settings<'a> {
    /// `--offline`.
    pub offline: bool,
    /// `lock --update [NAME]`.
    pub update: Update,
    /// Ask every git repository whether its locked tag still points to the locked
    /// commit (`imgbuild lock`); otherwise only when a tree has to be fetched.
    pub verify_tags: bool,
    /// `--override NAME=PATH`.
    pub overrides: &'a BTreeMap<String, PathBuf>,
    /// The store directory (`--store`).
    pub store: Option<&'a Path>,
}

/// The libraries as evaluation sees them.
#[derive(Debug, Default)]
pub struct Libraries {
    /// Name → directory.
    pub roots: BTreeMap<String, PathBuf>,
    /// Who may import what (`None`: anyone anything, outside a project).
    pub imports: Option<BTreeMap<String, Vec<String>>>,
    /// The whole resolution (for `imgbuild libraries`).
    pub resolution: Option<Resolution>,
}

/// Resolves the project's libraries, writing the lock file when its library section
/// changed (never offline). Outside a project, the overrides are the libraries.
pub fn libraries(
    project: &Project,
    lock: &mut LockFile,
    settings: &Settings<'_>,
) -> Result<Libraries, Failure> {
    let Some(manifest) = &project.manifest else {
        for (name, path) in settings.overrides {
            eprintln!("library {name} overridden by {}", path.display());
        }
        return Ok(Libraries {
            roots: settings.overrides.clone(),
            imports: None,
            resolution: None,
        });
    };
    if manifest.libraries.is_empty() && settings.overrides.is_empty() {
        return Ok(Libraries {
            imports: Some(BTreeMap::new()),
            ..Libraries::default()
        });
    }
    if settings.offline {
        if let Err(error) = lock.libraries.check_manifest(manifest) {
            return Err(offline_mismatch(manifest, &project.lock_path, error));
        }
    }
    let cache = crate::commands::open_store(settings.store)?.libraries_directory();
    let mode = if settings.offline {
        Mode::Offline
    } else if settings.verify_tags {
        Mode::Online
    } else {
        Mode::Cached
    };
    let previous = (!lock.libraries.libraries().is_empty()).then_some(&lock.libraries);
    let resolution = imgbuild_libraries::resolve(
        manifest,
        &cache,
        previous,
        mode,
        &settings.update,
        settings.overrides,
        &Http,
    )
    .map_err(library_failure)?;
    let section = LockSection::from_resolution(&resolution, previous);
    if section != lock.libraries && !settings.offline {
        lock.libraries = section;
        lock.write(&project.lock_path)
            .map_err(|error| Failure::environment(error.to_string()))?;
        eprintln!("libraries locked in {}", project.lock_path.display());
    }
    for (name, resolved) in &resolution.libraries {
        if resolved.overridden {
            eprintln!(
                "library {name} overridden by {} (the lock is not changed)",
                resolved.path.display()
            );
        }
    }
    let mut imports: BTreeMap<String, Vec<String>> = resolution
        .libraries
        .iter()
        .map(|(name, resolved)| (name.clone(), resolved.dependencies.clone()))
        .collect();
    imports.insert(String::new(), resolution.direct.clone());
    Ok(Libraries {
        roots: resolution
            .libraries
            .iter()
            .map(|(name, resolved)| (name.clone(), resolved.path.clone()))
            .collect(),
        imports: Some(imports),
        resolution: Some(resolution),
    })
}

/// `lock --update NAME` where NAME is a library of the project (else it is a package
/// set's name).
pub fn library_names(project: &Project, lock: &LockFile) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = lock
        .libraries
        .libraries()
        .iter()
        .map(|library| library.name.clone())
        .collect();
    if let Some(manifest) = &project.manifest {
        names.extend(manifest.libraries.keys().cloned());
    }
    names
}

fn offline_mismatch(manifest: &Manifest, lock_path: &Path, error: LibraryError) -> Failure {
    let line = match &error {
        LibraryError::LockMismatch { name, .. } => manifest
            .patches
            .get(name)
            .or_else(|| manifest.libraries.get(name))
            .map(|entry| format!("{}:{}: ", manifest.path.display(), entry.line)),
        _ => None,
    };
    Failure::Recipe(miette::miette!(
        help = "run `imgbuild lock` with network access, then build --offline again",
        "{}--offline: {} no longer matches the manifest: {error}",
        line.unwrap_or_default(),
        lock_path.display()
    ))
}

/// Archive sources download through the builtins' one HTTP client (retries, redirects,
/// credentials kept out of messages).
struct Http;

impl imgbuild_libraries::archive::Download for Http {
    fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, String> {
        imgbuild_builtins::core::http::get(url, limit).map_err(|error| error.to_string())
    }
}

/// A library error as a failure: the machine's (exit 3) or the project's (exit 2).
pub fn library_failure(error: LibraryError) -> Failure {
    if error.is_environment() {
        Failure::Environment(miette::miette!("{error}"))
    } else {
        Failure::Recipe(miette::miette!("{error}"))
    }
}
