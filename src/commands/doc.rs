//! `imgbuild doc TARGET [--json]`: the functions a recipe library, or one module of it,
//! exports, with their signatures and `///` comments (`imgbuild_evaluator::doc` reads
//! and renders them; the JSON form is made here).
//!
//! TARGET is read in this order:
//! 1. an existing path: a `.rhai` file is one module (named by its file stem), a
//!    directory a library (named by the directory); files are shown as given;
//! 2. `NAME` or `NAME/MODULE` (`base/debian`, `base/net/dhcp`, `.rhai` optional): the
//!    library NAME as [`library_dir`] finds it; files are shown relative to the library.

use std::io::Write;
use std::path::{Path, PathBuf};

use imgbuild_builtins::lock::LockFile;
use imgbuild_evaluator::doc::{self, DocError, ModuleDoc};
use imgbuild_libraries::MANIFEST_NAME;
use serde_json::json;

use crate::cli::DocArgs;
use crate::errors::Failure;

/// What TARGET names.
enum Target {
    /// One module: its name in the header, its file, and how to show the file.
    Module {
        name: String,
        file: PathBuf,
        shown: String,
    },
    /// A library: its name, its directory, and the directory files are shown below.
    Library {
        name: String,
        directory: PathBuf,
        shown: PathBuf,
    },
}

/// Runs `imgbuild doc`.
pub fn run(store: Option<&Path>, arguments: &DocArgs) -> Result<(), Failure> {
    let cwd = std::env::current_dir().map_err(|error| {
        Failure::environment(format!("cannot read the current directory: {error}"))
    })?;
    let text = match target(&arguments.target, &cwd, store)? {
        Target::Module { name, file, shown } => {
            let module = doc::module_doc(&file).map_err(doc_failure)?;
            if arguments.json {
                json_text(&module_json(&name, &shown, &module))
            } else {
                doc::render_module(&name, &shown, &module)
            }
        }
        Target::Library {
            name,
            directory,
            shown,
        } => {
            let modules = doc::library_doc(&directory).map_err(doc_failure)?;
            if arguments.json {
                let modules: Vec<_> = modules
                    .iter()
                    .map(|(module, documentation)| {
                        let file = shown.join(format!("{module}.rhai"));
                        let file = file.display().to_string();
                        module_json(&format!("{name}/{module}"), &file, documentation)
                    })
                    .collect();
                json_text(&json!({ "library": name, "modules": modules }))
            } else {
                doc::render_library(&name, &shown, &modules)
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::environment(
            format!("cannot write to standard output: {error}"),
        )),
        _ => Ok(()),
    }
}

/// Reads TARGET (see the module documentation).
fn target(target: &str, cwd: &Path, store: Option<&Path>) -> Result<Target, Failure> {
    let path = Path::new(target);
    if path.is_dir() {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let name = canonical.file_name().map_or_else(
            || target.to_owned(),
            |name| name.to_string_lossy().into_owned(),
        );
        return Ok(Target::Library {
            name,
            directory: path.to_path_buf(),
            shown: path.to_path_buf(),
        });
    }
    if path.exists() {
        let name = path.file_stem().map_or_else(
            || target.to_owned(),
            |stem| stem.to_string_lossy().into_owned(),
        );
        return Ok(Target::Module {
            name,
            file: path.to_path_buf(),
            shown: target.to_owned(),
        });
    }
    let library_like = !target.is_empty() && !target.starts_with(['.', '/']);
    if !library_like || (target.ends_with(".rhai") && !target.contains('/')) {
        let failure = Failure::Recipe(miette::miette!("no such file or directory: `{target}`"));
        return Err(with_path_hint(failure, target));
    }
    let (name, module) = match target.split_once('/') {
        Some((name, module)) => (name, module.trim_end_matches('/')),
        None => (target, ""),
    };
    let directory =
        library_dir(name, cwd, store).map_err(|failure| with_path_hint(failure, target))?;
    if module.is_empty() {
        return Ok(Target::Library {
            name: name.to_owned(),
            directory,
            shown: PathBuf::new(),
        });
    }
    let module = module.strip_suffix(".rhai").unwrap_or(module);
    let file = directory.join(format!("{module}.rhai"));
    if !file.is_file() {
        return Err(unknown_module(name, module, &directory));
    }
    Ok(Target::Module {
        name: format!("{name}/{module}"),
        file,
        shown: format!("{module}.rhai"),
    })
}

/// The directory of library `name` in the project around `cwd`: the project's own
/// `[library]` name is its manifest's directory; any other library of its resolved
/// graph (direct or transitive) is resolved, fetched and checked against the lock as a
/// build would (see [`crate::project`]), and read from the store.
pub fn library_dir(name: &str, cwd: &Path, store: Option<&Path>) -> Result<PathBuf, Failure> {
    let project = crate::project::Project::find(cwd)?;
    let Some(manifest) = &project.manifest else {
        return Err(Failure::Recipe(miette::miette!(
            help = "give a path instead (a library directory or a .rhai file), or run imgbuild in a project whose imgbuild.toml names the library",
            "`{name}` is not a file or directory here, and there is no {MANIFEST_NAME} in {} or above to name libraries",
            cwd.display()
        )));
    };
    if manifest
        .library
        .as_ref()
        .is_some_and(|library| library.name == name)
    {
        return Ok(manifest.directory().to_path_buf());
    }
    let mut lock = LockFile::read(&project.lock_path)
        .map_err(|error| Failure::Recipe(miette::miette!("{error}")))?;
    let libraries = crate::project::libraries(
        &project,
        &mut lock,
        &crate::project::Settings {
            offline: false,
            update: imgbuild_libraries::Update::Nothing,
            verify_tags: false,
            overrides: &std::collections::BTreeMap::new(),
            store,
        },
    )?;
    if let Some(directory) = libraries.roots.get(name) {
        return Ok(directory.clone());
    }
    let known: Vec<&str> = manifest
        .library
        .iter()
        .map(|library| library.name.as_str())
        .chain(libraries.roots.keys().map(String::as_str))
        .collect();
    let help = match imgbuild_evaluator::suggest(name, known.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None if known.is_empty() => format!("{} names no libraries", manifest.path.display()),
        None => format!("libraries: {}", known.join(", ")),
    };
    Err(Failure::Recipe(miette::miette!(
        help = help,
        "no library `{name}` in {}",
        manifest.path.display()
    )))
}

/// An unknown module of a library: "did you mean", else the modules it has.
fn unknown_module(library: &str, module: &str, directory: &Path) -> Failure {
    let names: Vec<String> = match doc::module_files(directory) {
        Ok(files) => files.into_iter().map(|(name, _)| name).collect(),
        Err(error) => return doc_failure(error),
    };
    let help = match imgbuild_evaluator::suggest(module, names.iter().map(String::as_str)) {
        Some(near) => format!("did you mean `{library}/{near}`?"),
        None if names.is_empty() => format!("{} holds no .rhai files", directory.display()),
        None => format!("modules: {}", names.join(", ")),
    };
    Failure::Recipe(miette::miette!(
        help = help,
        "library `{library}` has no module `{module}` ({} does not exist)",
        directory.join(format!("{module}.rhai")).display()
    ))
}

/// A failure to find TARGET, with a hint when `TARGET.rhai` is a file here.
fn with_path_hint(failure: Failure, target: &str) -> Failure {
    let file = format!("{target}.rhai");
    match failure {
        Failure::Recipe(report) if Path::new(&file).is_file() => Failure::Recipe(miette::miette!(
            help = format!("`{file}` is a file: `imgbuild doc {file}`"),
            "{report}"
        )),
        other => other,
    }
}

fn doc_failure(error: DocError) -> Failure {
    if error.is_environment() {
        Failure::Environment(crate::errors::report(error))
    } else {
        Failure::Recipe(crate::errors::report(error))
    }
}

/// A module as JSON: name, file, summary, comment, and each function with its
/// signature.
fn module_json(name: &str, file: &str, module: &ModuleDoc) -> serde_json::Value {
    let functions: Vec<_> = module
        .functions
        .iter()
        .map(|function| {
            json!({
                "name": function.name,
                "this_type": function.this_type,
                "params": function.params,
                "signature": function.signature(),
                "doc": function.doc,
                "line": function.line,
            })
        })
        .collect();
    json!({
        "module": name,
        "file": file,
        "summary": module.summary(),
        "doc": module.doc,
        "functions": functions,
    })
}

fn json_text(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}
