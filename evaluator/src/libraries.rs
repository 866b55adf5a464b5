//! Recipe libraries as the evaluator sees them: a map from library name to the
//! directory holding that library's files (resolved, fetched and pinned before
//! evaluation, outside the evaluator). Two rules follow from it:
//!
//! - `import "base/debian"` in any file resolves `base` through the map to
//!   `<base's directory>/debian.rhai` when `base` is a library name (a declared name
//!   takes precedence over a directory of the same name next to the importer).
//! - **Hermetic libraries**: code in a library resolves its relative imports and its
//!   `file()`/`dir()` paths inside that library's directory and can reach nothing
//!   outside it (no absolute paths, no `..` out of it, no `-I` search path); it reaches
//!   other libraries only by their names.
//! - **Declared imports only** (when the caller gives the import map, as the CLI does
//!   for a project with an `imgbuild.toml`): the project imports the libraries its
//!   manifest names, and a library those *its* manifest names — not a library that is
//!   in the graph only because someone else required it.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::args::BuiltinError;

/// The libraries of one evaluation: name → canonical directory.
#[derive(Debug, Clone, Default)]
pub struct Libraries {
    roots: BTreeMap<String, PathBuf>,
    imports: Option<BTreeMap<String, Vec<String>>>,
}

impl Libraries {
    /// From name → directory (made canonical when it exists) and who may import what
    /// (see `EvalOptions::library_imports`).
    pub fn new(
        roots: BTreeMap<String, PathBuf>,
        imports: Option<BTreeMap<String, Vec<String>>>,
    ) -> Libraries {
        Libraries {
            roots: roots
                .into_iter()
                .map(|(name, root)| {
                    let canonical = root.canonicalize().unwrap_or(root);
                    (name, canonical)
                })
                .collect(),
            imports,
        }
    }

    /// Checks that `importer` (a library name, or `None` for the project's own files)
    /// may import library `name`.
    pub fn check_visible(&self, importer: Option<&str>, name: &str) -> Result<(), BuiltinError> {
        let Some(imports) = &self.imports else {
            return Ok(());
        };
        if importer == Some(name) {
            return Ok(());
        }
        let allowed = imports.get(importer.unwrap_or(""));
        if allowed.is_some_and(|names| names.iter().any(|allowed| allowed == name)) {
            return Ok(());
        }
        let (who, manifest) = match importer {
            Some(library) => (
                format!("library `{library}`"),
                format!("{library}'s imgbuild.toml"),
            ),
            None => (
                "this project".to_owned(),
                "the project's imgbuild.toml".to_owned(),
            ),
        };
        Err(BuiltinError::new(format!(
            "{who} does not declare library `{name}`: it is in the graph only because another library requires it"
        ))
        .with_help(format!("add `{name}` to [libraries] in {manifest}")))
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The library names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.roots.keys().map(String::as_str)
    }

    /// The library whose directory holds `file` (canonical), if any.
    pub fn owner(&self, file: &Path) -> Option<(&str, &Path)> {
        self.roots
            .iter()
            .filter(|(_, root)| file.starts_with(root))
            .max_by_key(|(_, root)| root.components().count())
            .map(|(name, root)| (name.as_str(), root.as_path()))
    }

    /// `name/rest` → the file `rest` in library `name`, when `name` is a library.
    pub fn by_name(&self, path: &Path) -> Option<(&str, PathBuf)> {
        let mut components = path.components();
        let Some(Component::Normal(first)) = components.next() else {
            return None;
        };
        let (name, root) = self.roots.get_key_value(first.to_str()?)?;
        Some((name.as_str(), root.join(components.as_path())))
    }
}

/// `path` with `.` and `..` applied lexically (the file need not exist).
pub fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// Checks that `resolved` (what library `name` at `root` asked for as `asked`) stays
/// inside the library.
pub fn check_inside(
    name: &str,
    root: &Path,
    asked: &str,
    resolved: &Path,
) -> Result<(), BuiltinError> {
    let real = resolved
        .canonicalize()
        .unwrap_or_else(|_| normalize(resolved));
    if Path::new(asked).is_absolute() || !real.starts_with(root) {
        return Err(BuiltinError::new(format!(
            "library `{name}` cannot reach `{asked}`: it is outside the library"
        ))
        .with_help(
            "a library reads only its own files; import another library by its name (\"other/module\")",
        ));
    }
    Ok(())
}
