//! Where in the recipe a derivation was constructed.
//!
//! An [`Origin`] is kept beside a derivation, never hashed: moving a call to another
//! line changes no identity. Build-time errors use it to point at the recipe the way
//! evaluation errors do (`recipe.rhai:4:12`, and for a call inside an imported module,
//! the chain of `import` statements that brought the module in).

use std::fmt;
use std::sync::Arc;

/// A place in a recipe file, with the import that loaded that file (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file, as the evaluator names it (an absolute path).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// The `import` statement that loaded `file`, when it is a module.
    pub imported_from: Option<Arc<Origin>>,
}

impl Origin {
    /// The import chain, innermost first: this place, then each `import` that led here.
    pub fn chain(&self) -> impl Iterator<Item = &Origin> {
        std::iter::successors(Some(self), |origin| origin.imported_from.as_deref())
    }

    /// `file:line:column`, with `file` relative to `base` when it lies below it.
    pub fn short(&self, base: Option<&std::path::Path>) -> String {
        let path = std::path::Path::new(&*self.file);
        let shown = base
            .and_then(|base| path.strip_prefix(base).ok())
            .unwrap_or(path);
        format!("{}:{}:{}", shown.display(), self.line, self.column)
    }
}

impl fmt::Display for Origin {
    /// `file:line:column (imported from file:line:column, ...)`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}:{}", self.file, self.line, self.column)?;
        let mut outer = self.imported_from.as_deref();
        let mut first = true;
        while let Some(origin) = outer {
            let joiner = if first { " (imported from " } else { ", from " };
            write!(
                formatter,
                "{joiner}{}:{}:{}",
                origin.file, origin.line, origin.column
            )?;
            first = false;
            outer = origin.imported_from.as_deref();
        }
        if !first {
            formatter.write_str(")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_import_chain() {
        let main = Arc::new(Origin {
            file: "/r/web.rhai".into(),
            line: 1,
            column: 1,
            imported_from: None,
        });
        let library = Arc::new(Origin {
            file: "/r/lib/base.rhai".into(),
            line: 2,
            column: 5,
            imported_from: Some(main),
        });
        let call = Origin {
            file: "/r/lib/net.rhai".into(),
            line: 7,
            column: 13,
            imported_from: Some(library),
        };
        assert_eq!(
            call.to_string(),
            "/r/lib/net.rhai:7:13 (imported from /r/lib/base.rhai:2:5, from /r/web.rhai:1:1)"
        );
        assert_eq!(call.chain().count(), 3);
        assert_eq!(
            call.short(Some(std::path::Path::new("/r"))),
            "lib/net.rhai:7:13"
        );
    }
}
