//! The plain-text form of [`ModuleDoc`]s that `imgbuild doc` prints: a header
//! `NAME — summary` (the module comment's first paragraph, on one line), then each
//! function's signature with its comment indented below it and `(FILE:LINE)` last.
//!
//! ```text
//! base/debian — Debian helpers built on debian::packages and debian::rootfs.
//!
//! fn server_packages(name, suite, extra)
//!     A minbase package set for a server: [`server_base`] plus `extra`.
//!     ...
//!     (debian.rhai:24)
//! ```
//!
//! No colours and no width: the text is the same on a terminal and in a pipe.

use std::fmt::Write as _;
use std::path::Path;

use super::ModuleDoc;

/// One module in full: the header, the rest of its comment ([`ModuleDoc::details`]),
/// then every function.
/// `file` is how to show the module's file in `(FILE:LINE)`.
pub fn render_module(name: &str, file: &str, module: &ModuleDoc) -> String {
    let mut text = header(name, module);
    let details = module.details();
    if !details.is_empty() {
        text.push('\n');
        indented(&mut text, "", details);
    }
    functions(&mut text, "", file, module);
    text
}

/// A whole library: for each module (named `LIBRARY/MODULE`) its header and functions,
/// without the rest of the module comment. Files are shown below `directory` (`""` for
/// paths relative to the library).
pub fn render_library(library: &str, directory: &Path, modules: &[(String, ModuleDoc)]) -> String {
    if modules.is_empty() {
        return format!("{library}: no modules (no .rhai files)\n");
    }
    let mut text = String::new();
    for (index, (name, module)) in modules.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        text.push_str(&header(&format!("{library}/{name}"), module));
        let file = directory.join(format!("{name}.rhai"));
        functions(&mut text, "  ", &file.display().to_string(), module);
    }
    text
}

/// `NAME — summary` (or `NAME` alone) and a line break.
fn header(name: &str, module: &ModuleDoc) -> String {
    match module.summary().as_str() {
        "" => format!("{name}\n"),
        summary => format!("{name} — {summary}\n"),
    }
}

/// Each function, after a blank line: signature, comment, `(FILE:LINE)`.
fn functions(text: &mut String, indent: &str, file: &str, module: &ModuleDoc) {
    if module.functions.is_empty() {
        let _ = writeln!(text, "\n{indent}(no public functions)");
    }
    for function in &module.functions {
        let _ = writeln!(text, "\n{indent}{}", function.signature());
        let body = format!("{indent}    ");
        if !function.doc.is_empty() {
            indented(text, &body, &function.doc);
        }
        let _ = writeln!(text, "{body}({file}:{})", function.line);
    }
}

/// Each line of `doc` after `indent` (blank lines stay empty).
fn indented(text: &mut String, indent: &str, doc: &str) {
    for line in doc.lines() {
        if line.trim().is_empty() {
            text.push('\n');
        } else {
            let _ = writeln!(text, "{indent}{line}");
        }
    }
}
