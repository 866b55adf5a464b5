//! A small, deterministic YAML emitter for cloud-init documents.
//!
//! cloud-init reads YAML 1.1 through PyYAML, so the emitter is conservative: a string is
//! written plain only when it cannot be mistaken for anything else (no `:` — `52:54:00`
//! would be a base-60 integer —, no leading digit, not `yes`/`no`/`on`/`off`/`null`);
//! multi-line strings become literal blocks; everything else is double-quoted with JSON
//! escapes. Collections are block style. Map keys keep the order they are given in, so
//! `version: 2` or `instance-id` can come first.

use std::fmt::Write as _;

/// A YAML document node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Yaml {
    Null,
    Bool(bool),
    Int(i64),
    String(String),
    List(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    /// A string node.
    pub(crate) fn string(value: impl Into<String>) -> Yaml {
        Yaml::String(value.into())
    }

    /// A map node from `(key, value)` pairs, in order.
    pub(crate) fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Yaml)>) -> Yaml {
        Yaml::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

/// Renders a document (no trailing `...`; ends with a newline).
pub(crate) fn render(document: &Yaml) -> String {
    let mut out = String::new();
    match document {
        Yaml::Map(entries) if !entries.is_empty() => write_map(&mut out, entries, 0),
        Yaml::List(items) if !items.is_empty() => write_list(&mut out, items, 0),
        scalar => {
            write_scalar(&mut out, scalar, 0);
            out.push('\n');
        }
    }
    out
}

fn is_block(value: &Yaml) -> bool {
    match value {
        Yaml::Map(entries) => !entries.is_empty(),
        Yaml::List(items) => !items.is_empty(),
        _ => false,
    }
}

fn write_map(out: &mut String, entries: &[(String, Yaml)], indent: usize) {
    for (index, (key, value)) in entries.iter().enumerate() {
        if index > 0 {
            pad(out, indent);
        }
        write_string(out, key, indent, true);
        out.push(':');
        write_child(out, value, indent);
    }
}

fn write_list(out: &mut String, items: &[Yaml], indent: usize) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Yaml::Map(entries) if !entries.is_empty() => write_map(out, entries, indent + 2),
            Yaml::List(inner) if !inner.is_empty() => write_list(out, inner, indent + 2),
            scalar => {
                write_scalar(out, scalar, indent + 2);
                out.push('\n');
            }
        }
    }
}

/// Writes the value of a map entry, after `key:`.
fn write_child(out: &mut String, value: &Yaml, indent: usize) {
    if is_block(value) {
        out.push('\n');
        pad(out, indent + 2);
        match value {
            Yaml::Map(entries) => write_map(out, entries, indent + 2),
            Yaml::List(items) => write_list(out, items, indent + 2),
            _ => {}
        }
    } else {
        out.push(' ');
        write_scalar(out, value, indent + 2);
        out.push('\n');
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn write_scalar(out: &mut String, value: &Yaml, indent: usize) {
    match value {
        Yaml::Null => out.push_str("null"),
        Yaml::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Yaml::Int(number) => {
            let _ = write!(out, "{number}");
        }
        Yaml::String(text) => write_string(out, text, indent, false),
        Yaml::List(_) => out.push_str("[]"),
        Yaml::Map(_) => out.push_str("{}"),
    }
}

/// Words YAML 1.1 reads as booleans or null.
const RESERVED: &[&str] = &[
    "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
];

fn is_plain(text: &str) -> bool {
    let mut characters = text.chars();
    let Some(first) = characters.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_' || first == '/')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '@' | '+' | '-'))
        && !RESERVED.contains(&text.to_ascii_lowercase().as_str())
}

fn is_literal_block(text: &str) -> bool {
    text.contains('\n')
        && !text.starts_with([' ', '\n'])
        && !text.contains('\r')
        && text
            .chars()
            .all(|c| c == '\n' || c == '\t' || !c.is_control())
        && !text
            .chars()
            .any(|c| c == '\u{feff}' || c == '\u{85}' || c == '\u{2028}' || c == '\u{2029}')
        && text.lines().all(|line| !line.ends_with([' ', '\t']))
}

fn write_string(out: &mut String, text: &str, indent: usize, key: bool) {
    if is_plain(text) {
        out.push_str(text);
    } else if !key && is_literal_block(text) {
        let body = text.trim_end_matches('\n');
        let trailing = text.len() - body.len();
        out.push_str(match trailing {
            0 => "|-",
            1 => "|",
            _ => "|+",
        });
        for line in text[..body.len() + trailing.min(1)].split_inclusive('\n') {
            out.push('\n');
            if line != "\n" {
                pad(out, indent);
            }
            out.push_str(line.trim_end_matches('\n'));
        }
        for _ in 1..trailing {
            out.push('\n');
        }
    } else {
        write_quoted(out, text);
    }
}

fn write_quoted(out: &mut String, text: &str) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(document: Yaml, expected: &str) {
        assert_eq!(render(&document), expected);
    }

    #[test]
    fn scalars_are_quoted_when_ambiguous() {
        check(
            Yaml::map([
                ("plain", Yaml::string("nginx")),
                ("mac", Yaml::string("52:54:00:12:34:56")),
                ("word", Yaml::string("yes")),
                ("number", Yaml::string("0644")),
                ("empty", Yaml::string("")),
                ("quote", Yaml::string("say \"hi\"")),
                ("int", Yaml::Int(7)),
            ]),
            "plain: nginx\nmac: \"52:54:00:12:34:56\"\nword: \"yes\"\nnumber: \"0644\"\nempty: \"\"\nquote: \"say \\\"hi\\\"\"\nint: 7\n",
        );
    }

    #[test]
    fn nested_collections() {
        check(
            Yaml::map([
                (
                    "users",
                    Yaml::List(vec![
                        Yaml::string("default"),
                        Yaml::map([
                            ("name", Yaml::string("ops")),
                            ("groups", Yaml::List(vec![Yaml::string("sudo")])),
                        ]),
                    ]),
                ),
                (
                    "runcmd",
                    Yaml::List(vec![Yaml::List(vec![
                        Yaml::string("sh"),
                        Yaml::string("-c"),
                    ])]),
                ),
                ("none", Yaml::List(vec![])),
            ]),
            "users:\n  - default\n  - name: ops\n    groups:\n      - sudo\nruncmd:\n  - - sh\n    - \"-c\"\nnone: []\n",
        );
    }

    #[test]
    fn multi_line_strings_are_literal_blocks() {
        check(
            Yaml::map([(
                "write_files",
                Yaml::List(vec![Yaml::map([(
                    "content",
                    Yaml::string("line one\n\nline: two\n"),
                )])]),
            )]),
            "write_files:\n  - content: |\n      line one\n\n      line: two\n",
        );
        check(
            Yaml::map([("a", Yaml::string("x\ny"))]),
            "a: |-\n  x\n  y\n",
        );
        check(Yaml::map([("a", Yaml::string("x\n\n"))]), "a: |+\n  x\n\n");
        check(
            Yaml::map([("a", Yaml::string(" leading\nspace"))]),
            "a: \" leading\\nspace\"\n",
        );
    }
}
