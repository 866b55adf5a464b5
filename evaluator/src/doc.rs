//! What a recipe library exports, read from its source: the documentation behind
//! `imgbuild doc`.
//!
//! A module is one `.rhai` file. Its documentation is its `//!` lines, or, when it has
//! none, the block of `//` lines it opens with (up to the first line that is not such a
//! comment; `recipes/lib/*.rhai` are written that way). Each public top-level function
//! (`fn`, not `private fn`; Rhai's anonymous functions neither) is listed with its name,
//! parameter names, the `///` lines right above it and the 1-based line of its `fn`.
//! A library is a directory: every `*.rhai` below it, sorted, named by its path relative
//! to the directory without `.rhai` (`net/dhcp`), skipping hidden files and
//! directories and not following symbolic links to directories.
//!
//! How a file is read: Rhai's own parser first (an engine with the evaluator's nesting
//! limits, nothing registered, no optimization), so a file that does not parse is a
//! [`DocError::Syntax`] at `file:line:column` and the functions Rhai would define are
//! known exactly; then a small lexical scan (`doc/scan.rs`) for what Rhai's AST does not
//! keep without its `metadata` feature: lines, `///` comments and the module comment.
//! The two lists of functions must agree (anything else is [`DocError::Internal`]).
//!
//! Why not Rhai's `metadata` feature (`AST::iter_functions()` with `comments`): features
//! are unified across the workspace, and with it Rhai's parser refuses a `///` comment
//! that does not stand right before a top-level function ("Doc-comment must be followed
//! immediately by a function definition"): a recipe that builds today — a `///` above a
//! `let`, or inside a function body — would stop parsing for every command. It would also
//! give no line numbers and no module comment in the `//` style, so a scan would still
//! be needed; its dependencies (serde, serde_json) were not the obstacle.
//!
//! Reading files is this module's only I/O; rendering is plain text ([`render_module`],
//! [`render_library`]), the JSON form belongs to the binary.

mod render;
mod scan;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rhai::{Engine, OptimizationLevel};

pub use render::{render_library, render_module};

/// The documentation of one module (`.rhai` file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleDoc {
    /// The file it was read from.
    pub path: PathBuf,
    /// The module comment, without comment markers (empty when there is none).
    pub doc: String,
    /// The public top-level functions, in source order.
    pub functions: Vec<FunctionDoc>,
}

/// One public function of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDoc {
    /// Its name.
    pub name: String,
    /// `fn TYPE.name(...)`: the type of `this`, as written.
    pub this_type: Option<String>,
    /// Its parameter names, in order.
    pub params: Vec<String>,
    /// Its `///` comment without the markers (empty when there is none).
    pub doc: String,
    /// The 1-based line of its `fn` keyword.
    pub line: usize,
}

impl ModuleDoc {
    /// The first paragraph of the module comment on one line, as rustdoc summarizes
    /// (empty when there is none).
    pub fn summary(&self) -> String {
        let (first, _) = split_paragraph(&self.doc);
        first.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The module comment after its first paragraph, blank lines before it removed.
    pub fn details(&self) -> &str {
        split_paragraph(&self.doc).1
    }
}

impl FunctionDoc {
    /// `fn name(a, b)` or `fn TYPE.name(a)`.
    pub fn signature(&self) -> String {
        let mut signature = String::from("fn ");
        if let Some(this_type) = &self.this_type {
            let _ = write!(signature, "{this_type}.");
        }
        let _ = write!(signature, "{}({})", self.name, self.params.join(", "));
        signature
    }
}

/// Why a module or library cannot be documented.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocError {
    /// A file or directory cannot be read.
    #[error("cannot {operation} {}", path.display())]
    Io {
        /// What we were doing, e.g. "read module".
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid Rhai.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The 1-based line Rhai points at.
        line: usize,
        /// The 1-based column (in characters) Rhai points at.
        column: usize,
        /// Rhai's message.
        message: String,
    },
    /// The scan disagrees with Rhai's parser: a bug in this module.
    #[error("{}:{line}: cannot document this file ({message}); this is a bug in imgbuild", path.display())]
    Internal {
        /// The file.
        path: PathBuf,
        /// The 1-based line, or 1.
        line: usize,
        /// What went wrong.
        message: String,
    },
}

impl DocError {
    /// True for failures of the machine (a file that cannot be read), false for a
    /// module that is wrong.
    pub fn is_environment(&self) -> bool {
        matches!(self, DocError::Io { .. })
    }
}

/// Reads and documents the module `path`.
pub fn module_doc(path: &Path) -> Result<ModuleDoc, DocError> {
    let text = std::fs::read_to_string(path).map_err(|source| DocError::Io {
        operation: "read module",
        path: path.to_path_buf(),
        source,
    })?;
    parse_module(path, &text)
}

/// Documents a module whose text is `text`; `path` is recorded and named in errors.
pub fn parse_module(path: &Path, text: &str) -> Result<ModuleDoc, DocError> {
    let mut engine = Engine::new_raw();
    let limits = crate::Limits::default();
    engine
        .set_max_expr_depths(
            limits.max_expression_depth,
            limits.max_function_expression_depth,
        )
        .set_optimization_level(OptimizationLevel::None);
    let ast = engine.compile(text).map_err(|error| DocError::Syntax {
        path: path.to_path_buf(),
        line: error.position().line().unwrap_or(1),
        column: error.position().position().unwrap_or(1),
        message: error.err_type().to_string(),
    })?;
    let scanned = scan::scan(text).map_err(|error| DocError::Internal {
        path: path.to_path_buf(),
        line: error.line,
        message: error.message,
    })?;

    let mut from_rhai: Vec<(String, Vec<String>, bool)> = ast
        .iter_functions()
        .filter(|function| !function.name.starts_with("anon$"))
        .map(|function| {
            let params = function.params.iter().map(|param| param.to_string());
            (
                function.name.to_owned(),
                params.collect(),
                function.access.is_private(),
            )
        })
        .collect();
    let mut from_scan: Vec<(String, Vec<String>, bool)> = scanned
        .functions
        .iter()
        .map(|function| {
            (
                function.name.clone(),
                function.params.clone(),
                function.private,
            )
        })
        .collect();
    from_rhai.sort();
    from_scan.sort();
    if from_rhai != from_scan {
        return Err(DocError::Internal {
            path: path.to_path_buf(),
            line: 1,
            message: format!(
                "Rhai defines {} but the scan found {}",
                listing(&from_rhai),
                listing(&from_scan)
            ),
        });
    }

    let doc_lines = if scanned.module_doc.is_empty() {
        leading_comment(text)
    } else {
        scanned.module_doc
    };
    let functions = scanned
        .functions
        .into_iter()
        .filter(|function| !function.private)
        .map(|function| FunctionDoc {
            name: function.name,
            this_type: function.this_type,
            params: function.params,
            doc: join_lines(function.doc),
            line: function.line,
        })
        .collect();
    Ok(ModuleDoc {
        path: path.to_path_buf(),
        doc: join_lines(doc_lines),
        functions,
    })
}

/// The `.rhai` files below `directory`: (module name, path), sorted by name.
pub fn module_files(directory: &Path) -> Result<Vec<(String, PathBuf)>, DocError> {
    let io = |operation: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| DocError::Io {
            operation,
            path,
            source,
        }
    };
    let mut files = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(io("read directory", &current))?;
        for entry in entries {
            let entry = entry.map_err(io("read directory", &current))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let file_type = entry.file_type().map_err(io("inspect", &path))?;
            if file_type.is_dir() {
                pending.push(path);
                continue;
            }
            let is_module = path
                .extension()
                .is_some_and(|extension| extension == "rhai")
                && (file_type.is_file() || path.is_file());
            if let (true, Ok(relative)) = (is_module, path.strip_prefix(directory)) {
                let name = relative
                    .with_extension("")
                    .components()
                    .map(|component| component.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push((name, path));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Documents every module of the library in `directory` (see the module docs).
pub fn library_doc(directory: &Path) -> Result<Vec<(String, ModuleDoc)>, DocError> {
    module_files(directory)?
        .into_iter()
        .map(|(name, path)| Ok((name, module_doc(&path)?)))
        .collect()
}

/// The `//` lines a file opens with (after blank lines), without the markers; a `///`
/// line ends them (it documents a function); `////...` counts as `//`, and a line of
/// slashes only is left out.
fn leading_comment(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if lines.is_empty() && line.is_empty() {
            continue;
        }
        let Some(rest) = line.strip_prefix("//") else {
            break;
        };
        if rest.starts_with('/') && !rest.starts_with("//") {
            break;
        }
        let rest = if rest.starts_with("//") {
            rest.trim_start_matches('/')
        } else {
            rest
        };
        if rest.is_empty() && line.len() > 2 {
            continue;
        }
        lines.push(rest.strip_prefix(' ').unwrap_or(rest).trim_end().to_owned());
    }
    lines
}

/// `text` split at its first empty line: (first paragraph, the rest without leading
/// empty lines). Comment lines are stored without trailing spaces, so a blank line is
/// an empty one.
fn split_paragraph(text: &str) -> (&str, &str) {
    match text.split_once("\n\n") {
        Some((first, rest)) => (first, rest.trim_start_matches('\n')),
        None => (text, ""),
    }
}

/// Lines joined with `\n`, without blank lines at either end.
fn join_lines(lines: Vec<String>) -> String {
    let text = lines.join("\n");
    let start = text.len() - text.trim_start_matches('\n').len();
    text[start..].trim_end().to_owned()
}

fn listing(functions: &[(String, Vec<String>, bool)]) -> String {
    let names: Vec<String> = functions
        .iter()
        .map(|(name, params, private)| {
            let private = if *private { "private " } else { "" };
            format!("{private}{name}({})", params.join(", "))
        })
        .collect();
    format!("[{}]", names.join(", "))
}
