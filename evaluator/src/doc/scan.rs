//! The lexical scan behind [`super::module_doc`]: where each top-level `fn` is, whether
//! it is `private`, and which `///` lines precede it; plus the file's `//!` lines.
//!
//! It runs only on text Rhai's own parser has accepted, so it can stay small, but it
//! reads the token classes that could hide a `fn` or a `///` exactly as Rhai's tokenizer
//! does: `"..."` strings (backslash escapes, a doubled `""`, a backslash before a line
//! break), `'c'` characters, raw strings (`#"..."#`, `##"..."##`), back-tick strings
//! (verbatim, a doubled back-tick, `${ ... }` interpolation holding any code, nested
//! strings included, `\${` for a literal `${`), `//` line comments (`///` but not
//! `////` is a doc comment, `//!` a module doc comment) and nested `/* */` block
//! comments.
//! Brackets of all three kinds count towards nesting, so only depth-0 tokens are read
//! as items; a function body is skipped whatever it holds. The end of the text ends
//! any comment or string, as it does for Rhai (which accepts a block comment left open
//! at the end of a file).
//!
//! A function's documentation is the `///` lines after the previous top-level token and
//! before its `fn` (or `private fn`): blank lines and ordinary comments between them do
//! not detach it, any other token does. `/** */` block comments are ordinary comments
//! here.

/// One top-level function as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ScannedFunction {
    /// The 1-based line of its `fn` keyword.
    pub line: usize,
    /// Declared `private fn`.
    pub private: bool,
    /// `fn TYPE.name(...)`: the type as written (quotes removed).
    pub this_type: Option<String>,
    /// Its name.
    pub name: String,
    /// Its parameter names, in order.
    pub params: Vec<String>,
    /// Its `///` lines, each without `///` and one following space.
    pub doc: Vec<String>,
}

/// What a file declares at its top level.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// The `//!` lines, each without `//!` and one following space.
    pub module_doc: Vec<String>,
    /// The functions, in source order.
    pub functions: Vec<ScannedFunction>,
}

/// A `fn` declaration the scan cannot read (text Rhai accepted never gets here).
#[derive(Debug)]
pub(super) struct ScanError {
    /// The 1-based line.
    pub line: usize,
    /// What was expected.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// `/// text`
    Doc(String),
    /// `//! text`
    ModuleDoc(String),
    /// An identifier, keyword or number.
    Word(String),
    /// A `"..."`, `'c'` or `#"..."#` literal (its raw contents), or a back-tick
    /// string (empty).
    Literal(String),
    /// Any other character.
    Punct(char),
}

#[derive(Debug)]
struct Token {
    kind: Kind,
    line: usize,
    /// Brackets open around the token.
    depth: usize,
}

/// Scans `text` (which Rhai has parsed) for its module doc and top-level functions.
pub(super) fn scan(text: &str) -> Result<Scan, ScanError> {
    let tokens = Lexer::new(text).tokens();
    let mut scan = Scan::default();
    let mut doc: Vec<String> = Vec::new();
    let mut private = false;
    let mut index = 0;
    while let Some(token) = tokens.get(index) {
        index += 1;
        if token.depth > 0 {
            doc.clear();
            private = false;
            continue;
        }
        match &token.kind {
            Kind::Doc(line) => doc.push(line.clone()),
            Kind::ModuleDoc(line) => scan.module_doc.push(line.clone()),
            Kind::Word(word) if word == "private" => private = true,
            Kind::Word(word) if word == "fn" => {
                let (function, next) = signature(
                    &tokens,
                    index,
                    token.line,
                    private,
                    std::mem::take(&mut doc),
                )?;
                scan.functions.push(function);
                private = false;
                index = next;
            }
            _ => {
                doc.clear();
                private = false;
            }
        }
    }
    Ok(scan)
}

/// Reads `[TYPE.]name(a, b)` from `tokens[start..]`; returns the function and the index
/// after its `)`.
fn signature(
    tokens: &[Token],
    start: usize,
    line: usize,
    private: bool,
    doc: Vec<String>,
) -> Result<(ScannedFunction, usize), ScanError> {
    let expected = |what: &str| ScanError {
        line,
        message: format!("expected {what} in the `fn` declaration"),
    };
    let kind_at = |index: usize| tokens.get(index).map(|token| &token.kind);
    let (this_type, name, mut index) = match (kind_at(start), kind_at(start + 1)) {
        (Some(Kind::Word(this_type) | Kind::Literal(this_type)), Some(Kind::Punct('.'))) => {
            match kind_at(start + 2) {
                Some(Kind::Word(name)) => (Some(this_type.clone()), name.clone(), start + 3),
                _ => return Err(expected("a function name after the type")),
            }
        }
        (Some(Kind::Word(name)), _) => (None, name.clone(), start + 1),
        _ => return Err(expected("a function name")),
    };
    if kind_at(index) != Some(&Kind::Punct('(')) {
        return Err(expected("`(`"));
    }
    index += 1;
    let mut params = Vec::new();
    loop {
        match kind_at(index) {
            Some(Kind::Punct(')')) => break,
            Some(Kind::Punct(',')) => {}
            Some(Kind::Word(param)) => params.push(param.clone()),
            _ => return Err(expected("parameter names and `)`")),
        }
        index += 1;
    }
    let function = ScannedFunction {
        line,
        private,
        this_type,
        name,
        params,
        doc,
    };
    Ok((function, index + 1))
}

/// Characters of the text with the current line.
struct Lexer {
    characters: Vec<char>,
    index: usize,
    line: usize,
}

/// What a back-tick string is inside of, innermost last.
enum Frame {
    /// The text of a back-tick string.
    Text,
    /// `${ ... }` code, with its own open braces.
    Code { braces: usize },
}

impl Lexer {
    fn new(text: &str) -> Lexer {
        Lexer {
            characters: text.chars().collect(),
            index: 0,
            line: 1,
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.characters.get(self.index + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let character = self.peek(0)?;
        self.index += 1;
        if character == '\n' {
            self.line += 1;
        }
        Some(character)
    }

    fn tokens(mut self) -> Vec<Token> {
        let mut tokens = Vec::new();
        let mut depth: usize = 0;
        while let Some(character) = self.peek(0) {
            let line = self.line;
            let kind = match (character, self.peek(1)) {
                (character, _) if character.is_whitespace() => {
                    self.bump();
                    continue;
                }
                ('/', Some('/')) => match self.line_comment() {
                    Some(kind) => kind,
                    None => continue,
                },
                ('/', Some('*')) => {
                    self.block_comment();
                    continue;
                }
                ('"' | '\'', _) => Kind::Literal(self.quoted(character)),
                ('#', Some('"' | '#')) => Kind::Literal(self.raw()),
                ('`', _) => {
                    self.template();
                    Kind::Literal(String::new())
                }
                (character, _) if character.is_alphanumeric() || character == '_' => {
                    let mut word = String::new();
                    while let Some(next) = self.peek(0) {
                        if !(next.is_alphanumeric() || next == '_') {
                            break;
                        }
                        word.push(next);
                        self.bump();
                    }
                    Kind::Word(word)
                }
                (character, _) => {
                    self.bump();
                    match character {
                        '(' | '[' | '{' => {
                            tokens.push(Token {
                                kind: Kind::Punct(character),
                                line,
                                depth,
                            });
                            depth += 1;
                            continue;
                        }
                        ')' | ']' | '}' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    Kind::Punct(character)
                }
            };
            tokens.push(Token { kind, line, depth });
        }
        tokens
    }

    /// From `//` to the end of the line; a token for `///` and `//!` lines.
    fn line_comment(&mut self) -> Option<Kind> {
        let mut text = String::new();
        while let Some(character) = self.peek(0) {
            if character == '\n' {
                break;
            }
            text.push(character);
            self.bump();
        }
        let text = text.trim_end_matches('\r');
        let strip = |rest: &str| rest.strip_prefix(' ').unwrap_or(rest).trim_end().to_owned();
        if let Some(rest) = text.strip_prefix("///") {
            (!rest.starts_with('/')).then(|| Kind::Doc(strip(rest)))
        } else {
            text.strip_prefix("//!")
                .map(|rest| Kind::ModuleDoc(strip(rest)))
        }
    }

    /// `/* ... */`, nested as Rhai nests them.
    fn block_comment(&mut self) {
        let mut level = 0_usize;
        loop {
            match (self.bump(), self.peek(0)) {
                (Some('/'), Some('*')) => {
                    self.bump();
                    level += 1;
                }
                (Some('*'), Some('/')) => {
                    self.bump();
                    level = level.saturating_sub(1);
                    if level == 0 {
                        return;
                    }
                }
                (Some(_), _) => {}
                (None, _) => return,
            }
        }
    }

    /// A `"` string or `'` character from its opening quote; returns the raw contents.
    fn quoted(&mut self, quote: char) -> String {
        self.bump();
        let mut contents = String::new();
        loop {
            match self.bump() {
                None => return contents,
                Some('\\') => {
                    contents.push('\\');
                    if let Some(escaped) = self.bump() {
                        contents.push(escaped);
                    }
                }
                Some(character) if character == quote => {
                    if self.peek(0) != Some(quote) {
                        return contents;
                    }
                    self.bump();
                    contents.push(quote);
                }
                Some(character) => contents.push(character),
            }
        }
    }

    /// A raw string, `#"..."#` with one or more `#`, from its first `#`; returns the
    /// contents.
    fn raw(&mut self) -> String {
        let mut hashes = 0;
        while self.peek(0) == Some('#') {
            self.bump();
            hashes += 1;
        }
        // The opening quote (Rhai refuses anything else here).
        self.bump();
        let mut contents = String::new();
        loop {
            match self.bump() {
                None => return contents,
                Some('"') if (0..hashes).all(|ahead| self.peek(ahead) == Some('#')) => {
                    for _ in 0..hashes {
                        self.bump();
                    }
                    return contents;
                }
                Some(character) => contents.push(character),
            }
        }
    }

    /// A back-tick string from its opening back-tick, interpolations included.
    fn template(&mut self) {
        self.bump();
        let mut frames = vec![Frame::Text];
        while let Some(frame) = frames.last_mut() {
            let Some(character) = self.peek(0) else {
                return;
            };
            match frame {
                Frame::Text => match (character, self.peek(1)) {
                    ('`', Some('`')) | ('\\', Some('$')) => {
                        self.bump();
                        self.bump();
                    }
                    ('`', _) => {
                        self.bump();
                        frames.pop();
                    }
                    ('$', Some('{')) => {
                        self.bump();
                        self.bump();
                        frames.push(Frame::Code { braces: 0 });
                    }
                    _ => {
                        self.bump();
                    }
                },
                Frame::Code { braces } => match (character, self.peek(1)) {
                    ('/', Some('/')) => {
                        self.line_comment();
                    }
                    ('/', Some('*')) => self.block_comment(),
                    ('"' | '\'', _) => {
                        self.quoted(character);
                    }
                    ('#', Some('"' | '#')) => {
                        self.raw();
                    }
                    ('`', _) => {
                        self.bump();
                        frames.push(Frame::Text);
                    }
                    ('{', _) => {
                        *braces += 1;
                        self.bump();
                    }
                    ('}', _) => {
                        self.bump();
                        if *braces == 0 {
                            frames.pop();
                        } else {
                            *braces -= 1;
                        }
                    }
                    _ => {
                        self.bump();
                    }
                },
            }
        }
    }
}
