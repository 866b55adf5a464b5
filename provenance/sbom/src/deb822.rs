//! The deb822 control-file syntax that dpkg's `status` file and Debian's machine-readable
//! `copyright` files share, read just far enough for this crate.
//!
//! A document is a sequence of paragraphs separated by blank lines (lines that are empty
//! or hold only spaces and tabs). A paragraph is a sequence of fields `Name: value`;
//! a line starting with a space or tab continues the previous field. Field names are
//! compared without regard to case. Lines starting with `#` outside a field's
//! continuation are comments and skipped. A line that is none of these is *malformed*:
//! the parser records its number and goes on, and the caller decides whether that is
//! an error (the dpkg database) or noise to tolerate (hand-written copyright files).

/// One field: its name as written and its value, the first line and the continuation
/// lines joined with `\n` (each continuation line without its first space or tab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) value: String,
}

/// One paragraph: its fields in file order and the line number (1-based) it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paragraph {
    pub(crate) line: usize,
    pub(crate) fields: Vec<Field>,
}

impl Paragraph {
    /// The value of the first field called `name` (any case).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|field| field.name.eq_ignore_ascii_case(name))
            .map(|field| field.value.as_str())
    }

    /// The first line of the field `name`, trimmed; `None` when absent or empty.
    pub(crate) fn first_line(&self, name: &str) -> Option<&str> {
        let first = self.get(name)?.lines().next().unwrap_or("").trim();
        (!first.is_empty()).then_some(first)
    }
}

/// A parsed document: the paragraphs and the numbers of its malformed lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Document {
    pub(crate) paragraphs: Vec<Paragraph>,
    pub(crate) malformed_lines: Vec<usize>,
}

/// Splits `text` into paragraphs (see the module documentation).
pub(crate) fn parse(text: &str) -> Document {
    let mut document = Document::default();
    let mut current: Option<Paragraph> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            if let Some(paragraph) = current.take() {
                document.paragraphs.push(paragraph);
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            match current
                .as_mut()
                .and_then(|paragraph| paragraph.fields.last_mut())
            {
                Some(field) => {
                    field.value.push('\n');
                    field.value.push_str(&line[1..]);
                }
                None => document.malformed_lines.push(number),
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                let paragraph = current.get_or_insert_with(|| Paragraph {
                    line: number,
                    fields: Vec::new(),
                });
                paragraph.fields.push(Field {
                    name: name.to_owned(),
                    value: value.trim().to_owned(),
                });
            }
            _ => document.malformed_lines.push(number),
        }
    }
    if let Some(paragraph) = current {
        document.paragraphs.push(paragraph);
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_join_the_previous_field() {
        let document = parse("A: one\n two\n .\nB:three\n\n\n# note\nC: x\nbroken\n");
        assert_eq!(document.paragraphs.len(), 2);
        assert_eq!(document.paragraphs[0].get("a"), Some("one\ntwo\n."));
        assert_eq!(document.paragraphs[0].get("B"), Some("three"));
        assert_eq!(document.paragraphs[1].line, 8);
        assert_eq!(document.malformed_lines, vec![9]);
    }
}
