//! From an import path to a file: `import "base/debian"` in a recipe means
//! `debian.rhai` in the resolved library `base` ([`Resolution::import`]).
//!
//! Imports are hermetic: the root project's recipes may import the libraries its
//! manifest names, and a library's recipes the library itself and the libraries *its*
//! manifest names — never a library that merely happens to be in the graph because
//! someone else required it.
//!
//! **Invariants:** the returned path is inside the library's directory (no `..`, no
//! absolute part, no empty component); a refused import is
//! [`LibraryError::Import`] naming the import and the importer.

use std::path::PathBuf;

use super::Resolution;
use crate::error::{LibraryError, Result};

/// The extension of recipe files.
const RECIPE_EXTENSION: &str = "rhai";

impl Resolution {
    /// The file `import` (`"base/debian"`, `"base/lib/net"`) names, seen from the root
    /// project (`from` = `None`) or from a recipe of library `from`.
    pub fn import(&self, from: Option<&str>, import: &str) -> Result<PathBuf> {
        let refuse = |problem: String| LibraryError::Import {
            import: import.to_owned(),
            importer: from.map_or_else(
                || "the project".to_owned(),
                |name| format!("library `{name}`"),
            ),
            problem,
        };
        let Some((library, rest)) = import.split_once('/') else {
            return Err(refuse(
                "an import names a library and a file in it: `LIBRARY/FILE`".to_owned(),
            ));
        };
        let allowed: &[String] = match from {
            None => &self.direct,
            Some(name) => match self.libraries.get(name) {
                Some(resolved) => &resolved.dependencies,
                None => return Err(refuse(format!("there is no library `{name}`"))),
            },
        };
        let own = from == Some(library);
        if !own && !allowed.iter().any(|name| name == library) {
            let hint = if self.libraries.contains_key(library) {
                " (it is in the graph, but only through other libraries: add it to this manifest's [libraries])"
            } else {
                ""
            };
            return Err(refuse(format!(
                "`{library}` is not a library this manifest names{hint}"
            )));
        }
        let Some(resolved) = self.libraries.get(library) else {
            return Err(refuse(format!("library `{library}` was not resolved")));
        };
        let mut path = resolved.path.clone();
        for component in rest.split('/') {
            if component.is_empty()
                || component == "."
                || component == ".."
                || component.contains('\0')
            {
                return Err(refuse(format!(
                    "`{component}` is not allowed in an import path"
                )));
            }
            path.push(component);
        }
        let suffix = format!(".{RECIPE_EXTENSION}");
        if !rest.ends_with(&suffix) {
            path.as_mut_os_string().push(&suffix);
        }
        Ok(path)
    }
}
