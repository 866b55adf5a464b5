//! One function per subcommand, plus the recipe loading they share.

pub mod boot;
pub mod build;
pub mod diff;
pub mod doc;
pub mod eval;
pub mod graph;
pub mod libraries;
pub mod lock;
pub mod log;
pub mod remote;
pub mod result_provenance;
pub mod sign;
pub mod store;
pub mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::rc::Rc;

use imgbuild_builtins::{LockFile, LockInput, Update};
use imgbuild_evaluator::{EvalOptions, Evaluation};

use crate::cli::RecipeArgs;
use crate::errors::Failure;

/// Splits `RECIPE#OUTPUT`.
pub fn split_recipe(spec: &str) -> (PathBuf, Option<String>) {
    match spec.rsplit_once('#') {
        Some((path, output)) if !output.is_empty() && !output.contains('/') => {
            (PathBuf::from(path), Some(output.to_owned()))
        }
        _ => (PathBuf::from(spec), None),
    }
}

/// Evaluates the recipe named on the command line and applies `#OUTPUT`; says on stderr
/// which Debian package sets the lock file does not answer yet.
pub fn load(
    store: Option<&Path>,
    arguments: &RecipeArgs,
) -> Result<(Evaluation, PathBuf), Failure> {
    let loaded = load_with(store, arguments, &Resolve::default())?;
    let pending: Vec<String> = loaded
        .evaluation
        .pending
        .iter()
        .map(|request| format!("`{}`", request.name))
        .collect();
    if !pending.is_empty() {
        eprintln!(
            "note: package set(s) {} are not in {} yet: `imgbuild lock` resolves them (`imgbuild build` does so by itself)",
            pending.join(", "),
            loaded.lock_path.display()
        );
    }
    Ok((loaded.evaluation, loaded.recipe))
}

/// What to resolve again and whether the network may be used.
#[derive(Debug, Clone, Default)]
pub struct Resolve {
    /// Package sets to resolve again.
    pub sets: Update,
    /// Libraries to resolve again.
    pub libraries: imgbuild_libraries::Update,
    /// `--offline`.
    pub offline: bool,
    /// Check locked tags against their repositories (`imgbuild lock`).
    pub verify_tags: bool,
}

/// A recipe evaluated with its project's libraries and lock.
pub struct Loaded {
    /// The evaluation.
    pub evaluation: Evaluation,
    /// The recipe file.
    pub recipe: PathBuf,
    /// The lock the evaluation read.
    pub lock: Rc<LockInput>,
    /// Where that lock is written (the project's `imgbuild.lock` or `RECIPE.lock`).
    pub lock_path: PathBuf,
    /// The project's libraries.
    pub libraries: crate::project::Libraries,
}

/// `--override NAME=PATH`: each library directory, checked, and said on stderr.
pub fn overrides(pairs: &[String]) -> Result<BTreeMap<String, PathBuf>, Failure> {
    let mut libraries = BTreeMap::new();
    for pair in pairs {
        let Some((name, path)) = pair.split_once('=') else {
            return Err(Failure::Recipe(miette::miette!(
                help = "write --override NAME=PATH, e.g. --override base=../base-os",
                "--override `{pair}` has no `=`"
            )));
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(Failure::Recipe(miette::miette!(
                "--override `{pair}`: `{name}` is not a library name (letters, digits, '-', '_')"
            )));
        }
        if !Path::new(path).is_dir() {
            return Err(Failure::Recipe(miette::miette!(
                "--override {name}={path}: no such directory"
            )));
        }
        if libraries
            .insert(name.to_owned(), PathBuf::from(path))
            .is_some()
        {
            return Err(Failure::Recipe(miette::miette!(
                "library `{name}` is overridden twice"
            )));
        }
    }
    Ok(libraries)
}

/// [`load`] without the note: resolves the project's libraries (writing the lock when
/// they changed), reads the lock file with `resolve.sets`, and evaluates. What the lock
/// does not answer is in [`Evaluation::pending`].
pub fn load_with(
    store: Option<&Path>,
    arguments: &RecipeArgs,
    resolve: &Resolve,
) -> Result<Loaded, Failure> {
    let (path, selected) = split_recipe(&arguments.recipe);
    let mut args = BTreeMap::new();
    for pair in &arguments.args {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Failure::Recipe(miette::miette!(
                help = "write --arg KEY=VALUE, e.g. --arg n=1000",
                "--arg `{pair}` has no `=`"
            )));
        };
        if key.is_empty() {
            return Err(Failure::Recipe(miette::miette!(
                "--arg `{pair}` has an empty key"
            )));
        }
        args.insert(key.to_owned(), value.to_owned());
    }
    let mut search_path = arguments.include.clone();
    if let Some(paths) = std::env::var_os("IMGBUILD_PATH") {
        search_path
            .extend(std::env::split_paths(&paths).filter(|path| !path.as_os_str().is_empty()));
    }
    let overrides = overrides(&arguments.overrides)?;
    let project = crate::project::Project::find(&path)?;
    let lock_path = project.lock_path.clone();
    let mut file =
        LockFile::read(&lock_path).map_err(|error| Failure::Recipe(miette::miette!("{error}")))?;
    let libraries = crate::project::libraries(
        &project,
        &mut file,
        &crate::project::Settings {
            offline: resolve.offline,
            update: resolve.libraries.clone(),
            verify_tags: resolve.verify_tags,
            overrides: &overrides,
            store,
        },
    )?;
    let secret_args = crate::secrets::secret_args(&arguments.secrets)?;
    if let Some(name) = secret_args.keys().find(|name| args.contains_key(*name)) {
        return Err(Failure::Recipe(miette::miette!(
            "`{name}` is given both as --arg and as --secret"
        )));
    }
    let options = EvalOptions {
        search_path,
        args,
        function_names: imgbuild_builtins::function_names(),
        secret_args,
        secret_key: Some(crate::secrets::key_source(
            store,
            arguments.secret_key_file.as_deref(),
        )?),
        libraries: libraries.roots.clone(),
        library_imports: libraries.imports.clone(),
        ..EvalOptions::default()
    };
    let lock = Rc::new(LockInput {
        file,
        update: resolve.sets.clone(),
    });
    let register = |engine: &mut imgbuild_evaluator::rhai::Engine,
                    state: &imgbuild_evaluator::SharedState| {
        imgbuild_builtins::register_with(engine, state, lock.clone());
    };
    let mut evaluation = imgbuild_evaluator::evaluate(&path, &options, &register)
        .map_err(|diagnostic| Failure::Recipe(miette::Report::new_boxed(diagnostic)))?;
    for message in &evaluation.messages {
        eprintln!("recipe: {}", crate::progress::escape(message));
    }
    if let Some(selected) = selected {
        let available: Vec<String> = evaluation
            .graph
            .outputs()
            .iter()
            .map(|output| output.name.clone())
            .collect();
        if !evaluation.graph.select_outputs(&selected) {
            let help = match imgbuild_evaluator::suggest(
                &selected,
                available.iter().map(String::as_str),
            ) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("outputs: {}", available.join(", ")),
            };
            return Err(Failure::Recipe(miette::miette!(
                help = help,
                "{} has no output `{selected}`",
                path.display()
            )));
        }
    }
    check_result_names(&evaluation.graph)?;
    Ok(Loaded {
        evaluation,
        recipe: path,
        lock,
        lock_path,
        libraries,
    })
}

/// The store directory: `--store`, `IMGBUILD_STORE`, `$XDG_DATA_HOME/imgbuild`, or
/// `~/.local/share/imgbuild`.
pub fn store_path(explicit: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(data).join("imgbuild"));
    }
    match std::env::var_os("HOME").filter(|value| !value.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/imgbuild")),
        None => Err(Failure::environment(
            "cannot find the store: set --store DIR, IMGBUILD_STORE or HOME",
        )),
    }
}

/// Opens the store.
pub fn open_store(explicit: Option<&Path>) -> Result<imgbuild_store::Store, Failure> {
    let path = store_path(explicit)?;
    Ok(imgbuild_store::Store::open(&path)?)
}

/// The names each output may take under the result directory: its own, with its
/// format's extension (`web` → `web.iso`), and `NAME.tar` for a tree that is written as
/// a tar when this user cannot apply its owners.
fn claimed_names(output: &imgbuild_engine::Derivation, name: &str) -> Vec<String> {
    match imgbuild_builtins::file_extension(output) {
        Some(extension) if !name.ends_with(&format!(".{extension}")) => {
            vec![name.to_owned(), format!("{name}.{extension}")]
        }
        Some(_) => vec![name.to_owned()],
        None => vec![name.to_owned(), format!("{name}.tar")],
    }
}

/// Two outputs that would be written to the same path are an error naming both, before
/// anything is built (otherwise the second silently replaces the first).
fn check_result_names(graph: &imgbuild_evaluator::Graph) -> Result<(), Failure> {
    let mut claimed: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for output in graph.outputs() {
        let derivation = &graph.node(output.derivation).derivation;
        for name in claimed_names(derivation, &output.name) {
            if let Some(other) = claimed.insert(name.clone(), &output.name) {
                return Err(Failure::Recipe(miette::miette!(
                    help = "rename one of the outputs",
                    "outputs `{other}` and `{}` would both be written to result/{name}",
                    output.name
                )));
            }
        }
    }
    Ok(())
}
