//! deb822 control data (`Packages`, `Release`, `control`, `status`): paragraphs of
//! `Field: value` lines, continuation lines starting with a space or tab, paragraphs
//! separated by blank lines.
//!
//! The parser borrows from the input and allocates one small vector per paragraph, so a
//! whole `Packages` index (tens of thousands of paragraphs) parses in milliseconds.
//! Field names compare case-insensitively, as dpkg does. Values keep their
//! continuation lines (with the leading space) and lose the space after the colon and
//! trailing whitespace.

use std::fmt;

/// One paragraph: fields in their order of appearance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph<'a> {
    fields: Vec<(&'a str, &'a str)>,
    /// 1-based line number of the paragraph's first field.
    line: usize,
}

impl<'a> Paragraph<'a> {
    /// The value of `name` (case-insensitive), if present.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }

    /// The fields in their order of appearance.
    pub fn fields(&self) -> &[(&'a str, &'a str)] {
        &self.fields
    }

    /// 1-based line number of the paragraph's first field.
    pub fn line(&self) -> usize {
        self.line
    }
}

/// A syntax error in deb822 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for SyntaxError {}

/// Iterates over the paragraphs of `text`.
pub fn paragraphs(text: &str) -> Paragraphs<'_> {
    Paragraphs {
        text,
        position: 0,
        line: 1,
    }
}

/// Iterator returned by [`paragraphs`].
#[derive(Debug, Clone)]
pub struct Paragraphs<'a> {
    text: &'a str,
    position: usize,
    line: usize,
}

impl<'a> Paragraphs<'a> {
    /// The next line (without its newline), advancing; `None` at the end.
    fn next_line(&mut self) -> Option<&'a str> {
        if self.position >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.position..];
        let (line, advance) = match memchr_newline(rest.as_bytes()) {
            Some(end) => (&rest[..end], end + 1),
            None => (rest, rest.len()),
        };
        self.position += advance;
        self.line += 1;
        Some(line)
    }

    fn peek_continuation(&self) -> bool {
        matches!(
            self.text.as_bytes().get(self.position),
            Some(b' ') | Some(b'\t')
        )
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&byte| byte == b'\n')
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>, SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut fields: Vec<(&'a str, &'a str)> = Vec::with_capacity(16);
        let mut first_line = 0;
        loop {
            let line_number = self.line;
            let start = self.position;
            let Some(line) = self.next_line() else {
                break;
            };
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                if fields.is_empty() {
                    continue;
                }
                break;
            }
            if line.starts_with('#') {
                // Comment lines (apt's `.sources` files have them, even inside a
                // paragraph); no index or control field line starts with `#`.
                continue;
            }
            if line.starts_with(' ') || line.starts_with('\t') {
                return Some(Err(SyntaxError {
                    line: line_number,
                    reason: "continuation line without a field",
                }));
            }
            let Some(colon) = line.find(':') else {
                return Some(Err(SyntaxError {
                    line: line_number,
                    reason: "line is neither `Field: value` nor a continuation",
                }));
            };
            let name = &line[..colon];
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Some(Err(SyntaxError {
                    line: line_number,
                    reason: "malformed field name",
                }));
            }
            // The value runs from after the colon to the end of the last continuation
            // line, borrowed directly from the text.
            let value_start = start + colon + 1;
            let mut value_end = start + line.len();
            while self.peek_continuation() {
                let continuation_start = self.position;
                let Some(continuation) = self.next_line() else {
                    break;
                };
                value_end = continuation_start + continuation.len();
            }
            let value = self.text[value_start..value_end].trim();
            if fields.is_empty() {
                first_line = line_number;
            }
            fields.push((name, value));
        }
        if fields.is_empty() {
            None
        } else {
            Some(Ok(Paragraph {
                fields,
                line: first_line,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_continuations_and_paragraphs() {
        let text = "Package: a\nVersion: 1.0\nDescription: short\n long line\n .\n more\n\n\nPackage: b\r\nDepends: c (>= 1),\n d\n";
        let parsed: Vec<_> = paragraphs(text).collect::<Result<_, _>>().expect("parses");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].get("package"), Some("a"));
        assert_eq!(
            parsed[0].get("Description"),
            Some("short\n long line\n .\n more")
        );
        assert_eq!(parsed[0].line(), 1);
        assert_eq!(parsed[1].get("Package"), Some("b"));
        assert_eq!(parsed[1].get("Depends"), Some("c (>= 1),\n d"));
        assert_eq!(parsed[1].line(), 9);
        assert_eq!(parsed[1].get("Missing"), None);
    }

    #[test]
    fn rejects_malformed_lines() {
        let error = paragraphs("Package: a\nnot a field\n")
            .next()
            .expect("one")
            .expect_err("malformed");
        assert_eq!(error.line, 2);
        let error = paragraphs(" leading\n")
            .next()
            .expect("one")
            .expect_err("malformed");
        assert_eq!(error.line, 1);
    }

    #[test]
    fn comment_lines_are_skipped_anywhere() {
        let text = "# head
Types: deb
# http://old.example/debian
URIs: http://new.example/debian
";
        let paragraph = paragraphs(text).next().expect("one").expect("parses");
        assert_eq!(paragraph.get("URIs"), Some("http://new.example/debian"));
        assert_eq!(paragraph.fields().len(), 2);
    }

    #[test]
    fn empty_values_and_multiline_from_first_line() {
        let text = "SHA256:\n abc 12 main/Packages\n def 34 main/Packages.xz\nEmpty:\n";
        let paragraph = paragraphs(text).next().expect("one").expect("parses");
        assert_eq!(
            paragraph.get("SHA256"),
            Some("abc 12 main/Packages\n def 34 main/Packages.xz")
        );
        assert_eq!(paragraph.get("Empty"), Some(""));
    }
}
