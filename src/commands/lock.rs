//! `imgbuild lock`: resolve the recipe's libraries (see [`crate::project`]) and its
//! Debian package sets against the live repositories, and write its lock file (the
//! project's `imgbuild.lock`, or `RECIPE.lock` outside a project); also what `imgbuild
//! build` runs first when a set is not locked yet.

use std::path::Path;

use imgbuild_builtins::debian::repository;
use imgbuild_builtins::debian::request::SetRequest;
use imgbuild_builtins::lock::LockFile;
use imgbuild_builtins::{LockInput, Update};
use imgbuild_engine::Mirrors;
use imgbuild_evaluator::PendingRequest;

use crate::cli::LockArgs;
use crate::errors::Failure;

/// Runs `imgbuild lock`.
pub fn run(store: Option<&std::path::Path>, arguments: &LockArgs) -> Result<(), Failure> {
    let mirrors = crate::settings::mirrors(arguments.mirror.as_deref());
    let project = crate::project::Project::find(&super::split_recipe(&arguments.recipe.recipe).0)?;
    let locked = LockFile::read(&project.lock_path)
        .map_err(|error| Failure::Recipe(miette::miette!("{error}")))?;
    let library_names = crate::project::library_names(&project, &locked);
    let mut resolve = super::Resolve {
        verify_tags: true,
        ..super::Resolve::default()
    };
    match &arguments.update {
        None => {}
        Some(None) => {
            resolve.sets = Update::All;
            resolve.libraries = imgbuild_libraries::Update::All;
        }
        Some(Some(name)) if library_names.contains(name) => {
            resolve.libraries =
                imgbuild_libraries::Update::Names(std::iter::once(name.clone()).collect());
        }
        Some(Some(name)) => resolve.sets = Update::Set(name.clone()),
    }
    let loaded = super::load_with(store, &arguments.recipe, &resolve)?;
    let (evaluation, path, lock) = (loaded.evaluation, loaded.recipe, loaded.lock);
    let lock_path = loaded.lock_path;
    if let Update::Set(name) = &resolve.sets {
        let known = evaluation
            .pending
            .iter()
            .any(|request| &request.name == name)
            || lock.file.debian.set(name).is_some();
        if !known {
            let mut names: Vec<&str> = library_names.iter().map(String::as_str).collect();
            names.extend(lock.file.debian.sets.iter().map(|set| set.name.as_str()));
            names.extend(
                evaluation
                    .pending
                    .iter()
                    .map(|request| request.name.as_str()),
            );
            return Err(Failure::Recipe(miette::miette!(
                help = match imgbuild_evaluator::suggest(name, names.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("package sets and libraries: {}", names.join(", ")),
                },
                "{} has no package set or library `{name}`",
                path.display()
            )));
        }
    }
    let sets = evaluation
        .graph
        .nodes()
        .iter()
        .filter(|node| node.derivation.kind == imgbuild_builtins::debian::KIND)
        .count();
    let pending = evaluation.pending;
    if sets == 0 {
        if loaded.libraries.resolution.is_some() {
            eprintln!("{} is up to date", lock_path.display());
        } else {
            eprintln!(
                "{} has no debian::packages sets and no libraries: nothing to lock",
                path.display()
            );
        }
        return Ok(());
    }
    let written = resolve_pending(&lock_path, &lock, &pending, &mirrors, &mut |line| {
        eprintln!("{line}")
    })?;
    match written {
        Some(lock) => {
            for set in &lock.debian.sets {
                let bytes: u64 = set.packages.iter().map(|package| package.size).sum();
                eprintln!(
                    "{}: {} packages, {:.1} MB, from {}",
                    set.name,
                    set.packages.len(),
                    bytes as f64 / 1e6,
                    set.repositories
                        .iter()
                        .map(|repository| format!("{} ({})", repository.suite, repository.date))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            eprintln!("wrote {}", lock_path.display());
        }
        None => eprintln!("{} is up to date", lock_path.display()),
    }
    Ok(())
}

/// Resolves every pending request of an evaluation that read `lock`, writes the lock
/// file `lock_path`, and returns it (`None` when nothing was pending).
pub fn resolve_pending(
    lock_path: &Path,
    lock: &LockInput,
    pending: &[PendingRequest],
    mirrors: &Mirrors,
    progress: &mut dyn FnMut(&str),
) -> Result<Option<LockFile>, Failure> {
    if pending.is_empty() {
        return Ok(None);
    }
    let origins: Vec<String> = pending
        .iter()
        .map(|request| match &request.origin {
            Some(origin) => format!(
                " (made at {}:{}:{})",
                imgbuild_evaluator::display_path(&origin.file),
                origin.line,
                origin.column
            ),
            None => String::new(),
        })
        .collect();
    let pending: Vec<SetRequest> = pending
        .iter()
        .map(|request| {
            if request.section != imgbuild_builtins::debian::SECTION {
                return Err(Failure::internal(format!(
                    "no resolver for pending `{}` requests",
                    request.section
                )));
            }
            SetRequest::from_value(&request.request).ok_or_else(|| {
                Failure::internal(format!("malformed package set request `{}`", request.name))
            })
        })
        .collect::<Result<_, _>>()?;
    for (index, request) in pending.iter().enumerate() {
        if pending[..index]
            .iter()
            .any(|other| other.name == request.name && other != request)
        {
            return Err(Failure::Recipe(miette::miette!(
                help = "give each debian::packages call its own `name`",
                "two different package sets are both called `{}`{}",
                request.name,
                origins[index]
            )));
        }
    }
    let mut lock = lock.file.clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    let mut done = std::collections::BTreeSet::new();
    for (request, origin) in pending.iter().zip(&origins) {
        if !done.insert(request.name.clone()) {
            continue;
        }
        progress(&format!("resolving package set `{}`", request.name));
        let set = repository::lock_set(request, mirrors, now, progress).map_err(|error| {
            let report = miette::miette!("package set `{}`{origin}: {error}", request.name);
            match error {
                repository::LockSetError::Request(_) => Failure::Recipe(report),
                repository::LockSetError::Repository(_) => Failure::Environment(report),
            }
        })?;
        lock.debian.upsert(set);
    }
    lock.write(lock_path)
        .map_err(|error| Failure::Environment(miette::miette!("{error}")))?;
    Ok(Some(lock))
}
