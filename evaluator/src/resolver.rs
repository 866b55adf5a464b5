//! Module resolution for `import "lib/x" as x;`.
//!
//! `.rhai` is appended when missing. A path whose first component names a recipe
//! library (`import "base/debian"`) is that library's file; otherwise it is looked up
//! relative to the importing file, then along the search path (`-I DIR`,
//! `IMGBUILD_PATH`). Code in a library imports only inside its library or other
//! libraries by name ([`crate::libraries`]). Each module is compiled and evaluated once
//! per evaluation. Import cycles are detected with a stack of the modules being
//! evaluated and reported with the whole chain.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

type SharedModule = Shared<Module>;

use crate::args::BuiltinError;
use crate::state::SharedState;

/// Resolves recipe modules from files, recording their text for diagnostics.
pub(crate) struct RecipeResolver {
    pub(crate) state: SharedState,
}

impl RecipeResolver {
    /// Where `path` may be, in order; an error when library code reaches outside its
    /// library.
    fn candidates(&self, source: Option<&str>, path: &str) -> Result<Vec<PathBuf>, BuiltinError> {
        let mut relative = PathBuf::from(path);
        if relative
            .extension()
            .is_none_or(|extension| extension != "rhai")
        {
            let mut name = relative.into_os_string();
            name.push(".rhai");
            relative = PathBuf::from(name);
        }
        let libraries = &self.state.libraries;
        let owner = source.and_then(|source| libraries.owner(Path::new(source)));
        if let Some((library, file)) = libraries.by_name(&relative) {
            libraries.check_visible(owner.map(|(name, _)| name), library)?;
            return Ok(vec![file]);
        }
        if let Some((name, root)) = owner {
            let directory = source
                .and_then(|source| Path::new(source).parent())
                .unwrap_or(root);
            let file = directory.join(&relative);
            crate::libraries::check_inside(name, root, path, &file)?;
            return Ok(vec![file]);
        }
        if relative.is_absolute() {
            return Ok(vec![relative]);
        }
        let mut candidates = Vec::new();
        if let Some(directory) = source.and_then(|source| Path::new(source).parent()) {
            candidates.push(directory.join(&relative));
        }
        for directory in &self.state.search_path {
            candidates.push(directory.join(&relative));
        }
        Ok(candidates)
    }
}

impl ModuleResolver for RecipeResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        position: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let candidates = self
            .candidates(source, path)
            .map_err(|error| with_position(error, position))?;
        let Some(found) = candidates.iter().find(|candidate| candidate.is_file()) else {
            let searched: Vec<String> = candidates
                .iter()
                .map(|candidate| candidate.display().to_string())
                .collect();
            let first = path.split('/').next().unwrap_or(path);
            let libraries = &self.state.libraries;
            let help = match crate::suggest(first, libraries.names()) {
                Some(near) if path.contains('/') => format!(
                    "no library `{first}`: did you mean `{near}`? (libraries: {}; searched: {})",
                    libraries.names().collect::<Vec<_>>().join(", "),
                    searched.join(", ")
                ),
                _ => format!(
                    "searched: {}; add a directory with -I DIR or IMGBUILD_PATH",
                    searched.join(", ")
                ),
            };
            let error = BuiltinError::new(format!("cannot find module `{path}`")).with_help(help);
            return Err(with_position(error, position));
        };
        let file = found.canonicalize().unwrap_or_else(|_| found.clone());
        if let Some(module) = self.state.module_cache.borrow().get(&file) {
            return Ok(module.clone());
        }
        if let Some(start) = self
            .state
            .import_stack
            .borrow()
            .iter()
            .position(|entry| *entry == file)
        {
            let chain: Vec<String> = self.state.import_stack.borrow()[start..]
                .iter()
                .chain(std::iter::once(&file))
                .map(|entry| entry.display().to_string())
                .collect();
            let error = BuiltinError::new(format!("import cycle: {}", chain.join(" → ")))
                .with_help("a module may not import itself, directly or through others");
            return Err(with_position(error, position));
        }
        let name = file.display().to_string();
        let text: Rc<str> = match std::fs::read_to_string(&file) {
            Ok(text) => text.into(),
            Err(error) => {
                let error = BuiltinError::new(format!("cannot read module {name}: {error}"));
                return Err(with_position(error, position));
            }
        };
        self.state.add_source(&name, text.clone());
        self.state.record_import(&name, source, position);
        let mut ast = engine.compile(&*text).map_err(|error| {
            Box::new(EvalAltResult::ErrorInModule(
                name.clone(),
                error.into(),
                position,
            ))
        })?;
        ast.set_source(name.as_str());
        self.state.import_stack.borrow_mut().push(file.clone());
        let result = Module::eval_ast_as_new(Scope::new(), &ast, engine);
        self.state.import_stack.borrow_mut().pop();
        let module: SharedModule = result
            .map_err(|error| Box::new(EvalAltResult::ErrorInModule(name.clone(), error, position)))?
            .into();
        self.state
            .module_cache
            .borrow_mut()
            .insert(file, module.clone());
        Ok(module)
    }
}

fn with_position(error: BuiltinError, position: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        rhai::Dynamic::from(error),
        position,
    ))
}
