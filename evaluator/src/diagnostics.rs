//! Recipe diagnostics: Rhai errors turned into miette reports with source spans.
//!
//! Rhai reports a point (`line`, `column`, both counted in characters) and nests errors
//! raised in functions and imported modules inside `ErrorInFunctionCall` /
//! `ErrorInModule` frames. We walk that chain to the innermost error, point at it in the
//! file it happened in, and attach each frame (call site, import statement) as a related
//! diagnostic in its own file, so an error inside a library shows the whole import chain.

use std::fmt;
use std::path::Path;

use miette::{
    Diagnostic, LabeledSpan, MietteError, MietteSpanContents, NamedSource, SourceCode, SourceSpan,
    SpanContents,
};
use rhai::{EvalAltResult, ParseError, Position};

use crate::args::{suggest, BuiltinError};
use crate::state::SharedState;

/// A recipe error, ready for miette to render.
#[derive(Debug)]
pub struct RecipeDiagnostic {
    /// What went wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
    /// Where: file, line and column (1-based), and the source to show.
    pub location: Option<Location>,
    /// The chain of call sites and imports that led here, innermost first.
    pub related: Vec<RecipeDiagnostic>,
}

/// A point in a recipe file.
#[derive(Debug)]
pub struct Location {
    /// File path as shown to the user.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    label: String,
    span: SourceSpan,
    source: CharacterColumns,
}

/// A named source whose reported columns count characters, not bytes (miette counts
/// bytes, which puts the `file:line:column` header off after non-ASCII text).
#[derive(Debug)]
struct CharacterColumns {
    name: String,
    inner: NamedSource<String>,
    text: String,
}

impl SourceCode for CharacterColumns {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let contents = self
            .inner
            .read_span(span, context_lines_before, context_lines_after)?;
        let start = contents.span().offset().min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |index| index + 1);
        let column = self
            .text
            .get(line_start..start)
            .map_or(contents.column(), |prefix| prefix.chars().count());
        Ok(Box::new(
            MietteSpanContents::new_named(
                self.name.clone(),
                contents.data(),
                *contents.span(),
                contents.line(),
                column,
                contents.line_count(),
            )
            .with_language("Rhai"),
        ))
    }
}

impl RecipeDiagnostic {
    /// A diagnostic that points nowhere in particular.
    pub fn plain(message: String, help: Option<String>) -> Self {
        RecipeDiagnostic {
            message,
            help,
            location: None,
            related: Vec::new(),
        }
    }
}

impl fmt::Display for RecipeDiagnostic {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for RecipeDiagnostic {}

impl Diagnostic for RecipeDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        None
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.location
            .as_ref()
            .map(|location| &location.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.location.as_ref().map(|location| {
            Box::new(std::iter::once(LabeledSpan::new_with_span(
                Some(location.label.clone()),
                location.span,
            ))) as Box<dyn Iterator<Item = LabeledSpan>>
        })
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related
                .iter()
                .map(|related| related as &dyn Diagnostic),
        ))
    }
}

/// Finds source text for the files an evaluation read.
pub(crate) struct SourceLookup {
    pub(crate) state: SharedState,
    pub(crate) main: String,
    pub(crate) function_names: Vec<String>,
}

impl SourceLookup {
    pub(crate) fn parse_error(&self, error: &ParseError, file: &str) -> Box<RecipeDiagnostic> {
        let message = format!("syntax error: {}", error.err_type());
        Box::new(RecipeDiagnostic {
            location: self.locate(file, error.position(), "here"),
            message,
            help: None,
            related: Vec::new(),
        })
    }

    pub(crate) fn runtime_error(&self, error: &EvalAltResult) -> Box<RecipeDiagnostic> {
        let mut frames: Vec<(String, String, Position)> = Vec::new();
        let mut current = error;
        let mut file = self.main.clone();
        loop {
            match current {
                EvalAltResult::ErrorInFunctionCall(function, function_source, inner, position) => {
                    frames.push((
                        format!("in the call to `{function}`"),
                        file.clone(),
                        *position,
                    ));
                    if !function_source.is_empty() {
                        file = function_source.clone();
                    }
                    current = inner;
                }
                EvalAltResult::ErrorInModule(module, inner, position) => {
                    frames.push((
                        format!("while importing {}", display_path(module)),
                        file.clone(),
                        *position,
                    ));
                    file = module.clone();
                    current = inner;
                }
                _ => break,
            }
        }
        let (message, help, label) = self.describe(current);
        let related = frames
            .into_iter()
            .rev()
            .map(|(what, frame_file, position)| RecipeDiagnostic {
                message: what,
                help: None,
                location: self.locate(&frame_file, position, "from here"),
                related: Vec::new(),
            })
            .collect();
        Box::new(RecipeDiagnostic {
            location: self.locate(&file, current.position(), &label),
            message,
            help,
            related,
        })
    }

    fn describe(&self, error: &EvalAltResult) -> (String, Option<String>, String) {
        match error {
            EvalAltResult::ErrorRuntime(value, _) => {
                if let Some(builtin) = value.read_lock::<BuiltinError>() {
                    return (builtin.message.clone(), builtin.help.clone(), "here".to_owned());
                }
                (format!("recipe error: {value}"), None, "thrown here".to_owned())
            }
            EvalAltResult::ErrorParsing(kind, _) => {
                (format!("syntax error: {kind}"), None, "here".to_owned())
            }
            EvalAltResult::ErrorFunctionNotFound(signature, _) => {
                let name = signature.split([' ', '(']).next().unwrap_or(signature);
                if self.function_names.iter().any(|known| known == name) {
                    let arguments = signature.get(name.len()..).unwrap_or_default().trim();
                    return (
                        format!("`{name}` cannot be called with these arguments: {arguments}"),
                        Some(format!("see the documentation of `{name}` for the forms it accepts")),
                        "called here".to_owned(),
                    );
                }
                let help = suggest(name, self.function_names.iter().map(String::as_str))
                    .map(|near| format!("did you mean `{near}`?"));
                (
                    format!("unknown function `{name}`"),
                    help.or_else(|| Some("check the function name and the number and types of its arguments".to_owned())),
                    "called here".to_owned(),
                )
            }
            EvalAltResult::ErrorVariableNotFound(name, _) => (
                format!("unknown variable `{name}`"),
                None,
                "used here".to_owned(),
            ),
            EvalAltResult::ErrorTooManyOperations(_) => (
                "the recipe ran too long and was stopped".to_owned(),
                Some("is there an endless loop? evaluation is limited to a fixed number of operations".to_owned()),
                "still running here".to_owned(),
            ),
            EvalAltResult::ErrorStackOverflow(_) => (
                "function calls nested too deeply".to_owned(),
                Some("is there a recursion without a base case?".to_owned()),
                "here".to_owned(),
            ),
            EvalAltResult::ErrorDataTooLarge(what, _) => (
                format!("{what} grew beyond the evaluation limit"),
                None,
                "here".to_owned(),
            ),
            other => (strip_position(&other.to_string()), None, "here".to_owned()),
        }
    }

    fn locate(&self, file: &str, position: Position, label: &str) -> Option<Location> {
        let (line, column) = (position.line()?, position.position().unwrap_or(1));
        let text = self.state.source(file)?;
        let span = span_at(&text, line, column);
        let shown = display_path(file);
        Some(Location {
            file: shown.clone(),
            line,
            column,
            label: label.to_owned(),
            span,
            source: CharacterColumns {
                name: shown.clone(),
                inner: NamedSource::new(shown, text.to_string()).with_language("Rhai"),
                text: text.to_string(),
            },
        })
    }

    /// The name of the main recipe file.
    #[allow(dead_code)]
    pub(crate) fn main(&self) -> &str {
        &self.main
    }
}

/// Converts a 1-based line and character column to a byte span covering the token there.
pub fn span_at(text: &str, line: usize, column: usize) -> SourceSpan {
    let mut offset = 0;
    for (index, line_text) in text.split_inclusive('\n').enumerate() {
        if index + 1 == line {
            let body = line_text.trim_end_matches(['\n', '\r']);
            let start = body
                .char_indices()
                .nth(column.saturating_sub(1))
                .map(|(byte, _)| byte)
                .unwrap_or(body.len());
            let rest = &body[start..];
            let length = token_length(rest);
            return SourceSpan::new((offset + start).into(), length);
        }
        offset += line_text.len();
    }
    SourceSpan::new(text.len().into(), 0)
}

fn token_length(rest: &str) -> usize {
    if let Some(quote) = rest
        .chars()
        .next()
        .filter(|first| matches!(first, '"' | '`' | '\''))
    {
        if let Some(end) = rest[1..].find(quote) {
            return end + 2;
        }
    }
    let identifier: usize = rest
        .chars()
        .take_while(|character| character.is_alphanumeric() || *character == '_')
        .map(char::len_utf8)
        .sum();
    if identifier > 0 {
        identifier
    } else {
        rest.chars().next().map(char::len_utf8).unwrap_or(0)
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" (line ") {
        Some(index) if message.ends_with(')') => message[..index].to_owned(),
        _ => message.to_owned(),
    }
}

/// A path shown relative to the working directory when it is below it.
pub fn display_path(path: &str) -> String {
    let path = Path::new(path);
    if let Ok(current) = std::env::current_dir() {
        if let Ok(relative) = path.strip_prefix(&current) {
            return relative.display().to_string();
        }
    }
    path.display().to_string()
}
