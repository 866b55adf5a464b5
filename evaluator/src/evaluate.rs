//! Evaluating a recipe: engine set-up, limits, `args`, and collecting the outputs.
//!
//! The engine starts from [`Engine::new_raw`] (no file access, no printing to stdout) and
//! gets only the standard language packages, which in this build have no clock
//! (`no_time`), no floats and no randomness. Everything else a recipe can do comes from
//! the builtins registered by the caller. The limits in [`crate::limits`] (operations,
//! calls, nesting, memory, stack, time) turn a runaway recipe into a recipe error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine, Map, Scope};

use crate::diagnostics::{RecipeDiagnostic, SourceLookup};
use crate::resolver::RecipeResolver;
use crate::state::{DerivationHandle, EvalState, PendingRequest, SharedState};
use imgbuild_derivation::Graph;

pub use crate::limits::Limits;

/// How to evaluate a recipe.
#[derive(Clone, Debug, Default)]
pub struct EvalOptions {
    /// Directories searched for imported modules after the importing file's directory.
    pub search_path: Vec<PathBuf>,
    /// `--arg KEY=VALUE` pairs, visible to the recipe as the map `args`.
    pub args: BTreeMap<String, String>,
    /// Resource limits.
    pub limits: Limits,
    /// Names of the registered builtins, for "did you mean" on unknown functions.
    pub function_names: Vec<String>,
    /// `--secret NAME` values: in `args` too, but sealed (see [`crate::Sealed`]).
    pub secret_args: BTreeMap<String, String>,
    /// The key that seals secrets; without one, a recipe using secrets is an error.
    pub secret_key: Option<crate::SecretKeySource>,
    /// Recipe libraries: name → the directory of its files (see [`crate::libraries`]).
    pub libraries: BTreeMap<String, PathBuf>,
    /// Which libraries may be imported by name, and by whom: `None` (the default)
    /// lets every file import every library; `Some(map)` lets the recipe's own project
    /// import the libraries under the key `""` and library `NAME` those under `NAME`
    /// (and itself) — what each one's manifest names.
    pub library_imports: Option<BTreeMap<String, Vec<String>>>,
}

/// Registers builtins into an engine for one evaluation.
pub type Registrar<'a> = &'a dyn Fn(&mut Engine, &SharedState);

/// The result of evaluating a recipe.
#[derive(Debug)]
pub struct Evaluation {
    /// The derivation graph with the recipe's outputs.
    pub graph: Graph,
    /// What the recipe printed with `print` / `debug`.
    pub messages: Vec<String>,
    /// Local files and directories builtins read.
    pub read_files: Vec<PathBuf>,
    /// Requests the lock file does not answer yet (in the order the recipe made them).
    /// While any is pending, the graph is not final: derivations that depend on one are
    /// placeholders that cannot be built. The caller resolves them, writes the lock file
    /// and evaluates again.
    pub pending: Vec<PendingRequest>,
}

/// Evaluates the recipe at `recipe` into a derivation graph.
pub fn evaluate(
    recipe: &Path,
    options: &EvalOptions,
    register: Registrar<'_>,
) -> Result<Evaluation, Box<RecipeDiagnostic>> {
    let text = std::fs::read_to_string(recipe).map_err(|error| {
        Box::new(RecipeDiagnostic::plain(
            format!("cannot read recipe {}: {error}", recipe.display()),
            Some("check the path; recipes are Rhai files such as recipes/web.rhai".to_owned()),
        ))
    })?;
    let file = recipe
        .canonicalize()
        .unwrap_or_else(|_| recipe.to_path_buf());
    let name = file.display().to_string();
    let state: SharedState = Rc::new(EvalState::new(
        options.search_path.clone(),
        crate::libraries::Libraries::new(
            options.libraries.clone(),
            options.library_imports.clone(),
        ),
        options.secret_key.clone(),
    ));
    state.add_source(&name, text.as_str().into());
    let lookup = SourceLookup {
        state: state.clone(),
        main: name.clone(),
        function_names: options.function_names.clone(),
    };

    let engine = build_engine(options, &state, register);
    let mut scope = Scope::new();
    let mut args: Map = options
        .args
        .iter()
        .map(|(key, value)| (key.as_str().into(), Dynamic::from(value.clone())))
        .collect();
    for (key, value) in &options.secret_args {
        let sealed = state.seal(value.clone()).map_err(|error| {
            Box::new(RecipeDiagnostic::plain(
                format!("--secret {key}: {error}"),
                None,
            ))
        })?;
        args.insert(key.as_str().into(), Dynamic::from(sealed));
    }
    scope.push_constant("args", args);
    let mut ast = engine.compile_with_scope(&scope, &text).map_err(|error| {
        let mut diagnostic = lookup.parse_error(&error, &name);
        if let Some(help) = crate::limits::nesting_help(&error, &options.limits) {
            diagnostic.help = Some(help);
        }
        diagnostic
    })?;
    ast.set_source(name.as_str());
    state.import_stack.borrow_mut().push(file.clone());
    let result = engine
        .eval_ast_with_scope::<Dynamic>(&mut scope, &ast)
        .map_err(|error| lookup.runtime_error(&crate::limits::explain(*error)))?;
    drop(engine);

    let default_name = recipe
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "default".to_owned());
    collect_outputs(&state, &result, &default_name)?;
    let mut graph = state.take_graph();
    graph.sort_outputs();
    if let Some(pair) = graph
        .outputs()
        .windows(2)
        .find(|pair| pair[0].name == pair[1].name)
    {
        return Err(Box::new(RecipeDiagnostic::plain(
            format!(
                "two outputs are both called `{}`: a key with a dot and a nested map give the same name",
                pair[0].name
            ),
            Some("rename one of them; every output becomes its own file under result/".to_owned()),
        )));
    }
    if graph.outputs().is_empty() {
        return Err(Box::new(RecipeDiagnostic::plain(
            "the recipe has no outputs".to_owned(),
            Some("end the recipe with a derivation or a map of them, e.g. #{ hello: text(\"hello\", \"hi\\n\") }".to_owned()),
        )));
    }
    Ok(Evaluation {
        graph,
        messages: state.take_messages(),
        read_files: state.read_files(),
        pending: state.take_pending(),
    })
}

fn build_engine(options: &EvalOptions, state: &SharedState, register: Registrar<'_>) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(StandardPackage::new().as_shared_module());
    crate::limits::install(&mut engine, &options.limits);
    engine.set_strict_variables(true);
    engine.set_module_resolver(RecipeResolver {
        state: state.clone(),
    });
    let print_state = state.clone();
    engine.on_print(move |text| print_state.push_message(text.to_owned()));
    let debug_state = state.clone();
    engine.on_debug(move |text, _, _| debug_state.push_message(text.to_owned()));
    engine
        .register_type_with_name::<DerivationHandle>("Derivation")
        .register_fn("to_string", {
            let state = state.clone();
            move |handle: &mut DerivationHandle| {
                format!(
                    "«derivation {} ({})»",
                    state.derivation_name(*handle),
                    state.derivation_kind(*handle)
                )
            }
        })
        .register_fn("to_debug", {
            let state = state.clone();
            move |handle: &mut DerivationHandle| {
                format!(
                    "«derivation {} ({}) {}»",
                    state.derivation_name(*handle),
                    state.derivation_kind(*handle),
                    state.derivation_identity(*handle)
                )
            }
        })
        .register_get("name", {
            let state = state.clone();
            move |handle: &mut DerivationHandle| state.derivation_name(*handle)
        })
        .register_get("kind", {
            let state = state.clone();
            move |handle: &mut DerivationHandle| state.derivation_kind(*handle)
        })
        .register_get("identity", {
            let state = state.clone();
            move |handle: &mut DerivationHandle| state.derivation_identity(*handle)
        })
        .register_fn("==", |left: DerivationHandle, right: DerivationHandle| {
            left == right
        })
        .register_fn("!=", |left: DerivationHandle, right: DerivationHandle| {
            left != right
        });
    register(&mut engine, state);
    engine
}

fn collect_outputs(
    state: &SharedState,
    value: &Dynamic,
    default_name: &str,
) -> Result<(), Box<RecipeDiagnostic>> {
    if let Some(handle) = value.read_lock::<DerivationHandle>() {
        state.add_output(default_name.to_owned(), handle.id);
        return Ok(());
    }
    if value.read_lock::<Map>().is_some() {
        return collect_map(state, value, "", 1);
    }
    Err(Box::new(RecipeDiagnostic::plain(
        format!(
            "the recipe evaluates to {}, not a derivation or a map of derivations",
            crate::args::friendly_type_name(value.type_name())
        ),
        Some("end the recipe with a derivation or a map such as #{ web: disk }".to_owned()),
    )))
}

fn collect_map(
    state: &SharedState,
    value: &Dynamic,
    prefix: &str,
    depth: usize,
) -> Result<(), Box<RecipeDiagnostic>> {
    let Some(map) = value.read_lock::<Map>() else {
        return Ok(());
    };
    if depth > crate::limits::MAX_VALUE_DEPTH {
        let error = crate::limits::value_too_deep("the outputs map");
        return Err(Box::new(RecipeDiagnostic::plain(error.message, error.help)));
    }
    for (key, item) in map.iter() {
        let name = if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        };
        if let Err(problem) = check_output_name(key) {
            return Err(Box::new(RecipeDiagnostic::plain(
                format!("output name `{name}` is not usable: {problem}"),
                Some("output names become file names under result/; use letters, digits, '-', '_' and '.'".to_owned()),
            )));
        }
        if let Some(handle) = item.read_lock::<DerivationHandle>() {
            state.add_output(name, handle.id);
        } else if item.read_lock::<Map>().is_some() {
            collect_map(state, item, &name, depth + 1)?;
        } else {
            return Err(Box::new(RecipeDiagnostic::plain(
                format!(
                    "output `{name}` is {}, not a derivation",
                    crate::args::friendly_type_name(item.type_name())
                ),
                Some("every value in the recipe's result map must be a derivation (or a nested map of them)".to_owned()),
            )));
        }
    }
    Ok(())
}

fn check_output_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.starts_with('.') {
        return Err("it starts with '.'");
    }
    if name.len() > 200 {
        return Err("it is longer than 200 bytes");
    }
    if !name.chars().all(|character| {
        character.is_alphanumeric() || matches!(character, '-' | '_' | '.' | '+' | '@')
    }) {
        return Err(
            "it contains characters other than letters, digits, '-', '_', '.', '+' and '@'",
        );
    }
    Ok(())
}
