//! Debian machine-readable copyright files (copyright-format 1.0, DEP-5) to SPDX license
//! expressions.
//!
//! A copyright file is machine-readable when its first paragraph has a `Format:` field.
//! Its `Files:` paragraphs each carry a `License:` field whose first line is a Debian
//! license expression: short names joined by `or` and `and` (`and` binds tighter), a
//! comma lowering the precedence of the operator after it (`A or B, and C` is
//! `(A or B) and C`), and a name may carry `with NAME exception`.
//!
//! Each short name maps to an SPDX identifier, first match wins:
//! 1. the GNU family by rule: `GPL`, `LGPL`, `AGPL`, `GFDL`, `GFDL-NIV` with an optional
//!    `v`, a version (`2`, `2.1`, `2.0`) and `+` → `GPL-2.0-only`, `GPL-2.0-or-later`,
//!    `LGPL-2.1-or-later`, `GFDL-1.3-no-invariants-or-later`; a bare `GPL` (any
//!    version) → `GPL-1.0-or-later`, a bare `LGPL` → `LGPL-2.0-or-later`;
//! 2. Debian's own names: `Expat` → `MIT`, `Artistic` → `Artistic-1.0-Perl`, `Apache-2`
//!    → `Apache-2.0`, `CC0` → `CC0-1.0`, `BSL` → `BSL-1.0`;
//! 3. any SPDX license list identifier (list 3.29, from the `spdx` crate), compared
//!    without case (`BSD-3-clause` → `BSD-3-Clause`), keeping a trailing `+`;
//! 4. otherwise `LicenseRef-` and the name with every character outside `[A-Za-z0-9.-]`
//!    replaced by `-` (`public-domain` → `LicenseRef-public-domain`).
//!
//! `with X exception` becomes `WITH` an SPDX exception when one matches (`Autoconf` by
//! the GPL version, `Bison`, `Classpath`, `GCC`, `Font`, `Libtool`, `LLVM`, or any SPDX
//! exception identifier without case, with or without `-exception`); otherwise the whole
//! term, exception included, becomes one `LicenseRef-`.
//!
//! The file's expression is the conjunction of its paragraphs' expressions: the top-level
//! `AND` operands of all of them, deduplicated, sorted, joined with ` AND ` (an `OR`
//! operand in parentheses). Every `LicenseRef-` comes with the text the copyright file
//! gives for it: the stand-alone `License:` paragraph of that name, else the text under
//! the `Files:` paragraph's own `License:` field, else none.

use std::collections::{BTreeMap, BTreeSet};

use crate::deb822;

/// A copyright file's declared license and the license references it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredLicense {
    /// The SPDX license expression.
    pub expression: String,
    /// Each `LicenseRef-…` identifier in `expression` and what the file says about it.
    pub references: BTreeMap<String, LicenseReference>,
}

/// A license with no SPDX identifier, as one copyright file names and words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseReference {
    /// The name as the copyright file writes it (`public-domain`).
    pub name: String,
    /// The license text the file gives for the name, when it gives one.
    pub text: Option<String>,
}

/// The SPDX license expression a Debian machine-readable copyright file declares; `None`
/// when it is not machine-readable (no `Format:` field in its first paragraph) or no
/// `Files:` paragraph names a license. See the module documentation for the mapping.
pub fn declared_license(copyright: &str) -> Option<String> {
    declared_license_with_references(copyright).map(|declared| declared.expression)
}

/// [`declared_license`] with the text of each `LicenseRef-` the expression uses (an SPDX
/// document must carry those texts).
pub fn declared_license_with_references(copyright: &str) -> Option<DeclaredLicense> {
    let document = deb822::parse(copyright);
    let header = document.paragraphs.first()?;
    header.get("Format")?;
    let mut conjuncts = BTreeSet::new();
    let mut references = BTreeMap::new();
    for paragraph in &document.paragraphs[1..] {
        if paragraph.get("Files").is_none() {
            continue;
        }
        let Some(first_line) = paragraph.first_line("License") else {
            continue;
        };
        let Some(expression) = parse_expression(first_line) else {
            continue;
        };
        let own_text = paragraph.get("License").and_then(license_text);
        expression.collect_references(&mut |name| {
            let text = stand_alone_text(&document, name).or_else(|| own_text.clone());
            references
                .entry(reference_id(name))
                .or_insert_with(|| LicenseReference {
                    name: name.to_owned(),
                    text,
                });
        });
        match expression {
            Expression::And(operands) => {
                conjuncts.extend(operands.iter().map(|operand| operand.render(true)))
            }
            other => {
                conjuncts.insert(other.render(true));
            }
        }
    }
    if conjuncts.is_empty() {
        return None;
    }
    let expression = if conjuncts.len() == 1 {
        let only = conjuncts.into_iter().next().unwrap_or_default();
        strip_parentheses(only)
    } else {
        conjuncts.into_iter().collect::<Vec<_>>().join(" AND ")
    };
    Some(DeclaredLicense {
        expression,
        references,
    })
}

/// A parsed Debian license expression.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expression {
    /// One mapped term: an SPDX identifier (maybe with `+` or `WITH`), or a reference
    /// whose Debian name is kept.
    Term(Term),
    And(Vec<Expression>),
    Or(Vec<Expression>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Spdx(String),
    Reference(String),
}

impl Expression {
    /// The SPDX text; `nested` puts an `OR` in parentheses (it is an `AND` operand).
    fn render(&self, nested: bool) -> String {
        match self {
            Expression::Term(Term::Spdx(text)) => text.clone(),
            Expression::Term(Term::Reference(name)) => reference_id(name),
            Expression::And(operands) => operands
                .iter()
                .map(|operand| operand.render(true))
                .collect::<Vec<_>>()
                .join(" AND "),
            Expression::Or(operands) => {
                let text = operands
                    .iter()
                    .map(|operand| match operand {
                        Expression::And(_) => format!("({})", operand.render(false)),
                        _ => operand.render(false),
                    })
                    .collect::<Vec<_>>()
                    .join(" OR ");
                if nested {
                    format!("({text})")
                } else {
                    text
                }
            }
        }
    }

    fn collect_references(&self, found: &mut impl FnMut(&str)) {
        match self {
            Expression::Term(Term::Reference(name)) => found(name),
            Expression::Term(Term::Spdx(_)) => {}
            Expression::And(operands) | Expression::Or(operands) => {
                for operand in operands {
                    operand.collect_references(found);
                }
            }
        }
    }
}

fn strip_parentheses(text: String) -> String {
    match text
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
    {
        Some(inner) if !inner.contains(['(', ')']) => inner.to_owned(),
        _ => text,
    }
}

/// Parses the first line of a `License:` field; `None` when it names nothing.
fn parse_expression(line: &str) -> Option<Expression> {
    // Comma-separated groups: the operator after a comma joins the groups.
    let mut result: Option<Expression> = None;
    for (index, group) in line.split(',').enumerate() {
        let mut words: Vec<&str> = group.split_whitespace().collect();
        let mut operator_is_or = false;
        if index > 0 {
            match words.first().map(|word| word.to_ascii_lowercase()) {
                Some(word) if word == "or" => {
                    operator_is_or = true;
                    words.remove(0);
                }
                Some(word) if word == "and" => {
                    words.remove(0);
                }
                _ => {}
            }
        }
        let Some(parsed) = parse_group(&words) else {
            continue;
        };
        result = Some(match result {
            None => parsed,
            Some(previous) if operator_is_or => join(previous, parsed, true),
            Some(previous) => join(previous, parsed, false),
        });
    }
    result
}

fn join(left: Expression, right: Expression, or: bool) -> Expression {
    let mut operands = Vec::new();
    for side in [left, right] {
        match side {
            Expression::Or(inner) if or => operands.extend(inner),
            Expression::And(inner) if !or => operands.extend(inner),
            other => operands.push(other),
        }
    }
    if or {
        Expression::Or(operands)
    } else {
        Expression::And(operands)
    }
}

/// `A and B or C` → `(A and B) or C`.
fn parse_group(words: &[&str]) -> Option<Expression> {
    let mut alternatives = Vec::new();
    for alternative in words.split(|word| word.eq_ignore_ascii_case("or")) {
        let terms: Vec<Expression> = alternative
            .split(|word| word.eq_ignore_ascii_case("and"))
            .filter(|term| !term.is_empty())
            .map(|term| Expression::Term(map_term(&term.join(" "))))
            .collect();
        match terms.len() {
            0 => {}
            1 => alternatives.extend(terms),
            _ => alternatives.push(Expression::And(terms)),
        }
    }
    match alternatives.len() {
        0 => None,
        1 => alternatives.pop(),
        _ => Some(Expression::Or(alternatives)),
    }
}

/// One Debian term (`GPL-2+`, `GPL-2+ with Autoconf exception`) to SPDX.
fn map_term(term: &str) -> Term {
    let lowercase = term.to_ascii_lowercase();
    if let Some(position) = lowercase.find(" with ") {
        let base = &term[..position];
        let exception = term[position + 6..].trim();
        let exception = exception
            .strip_suffix(" exception")
            .or_else(|| exception.strip_suffix(" Exception"))
            .unwrap_or(exception)
            .trim();
        if let (Some(license), Some(exception)) = (map_name(base), map_exception(base, exception)) {
            return Term::Spdx(format!("{license} WITH {exception}"));
        }
        return Term::Reference(term.to_owned());
    }
    match map_name(term) {
        Some(identifier) => Term::Spdx(identifier),
        None => Term::Reference(term.to_owned()),
    }
}

/// A Debian short name to an SPDX license identifier (steps 1–3 of the module doc).
fn map_name(name: &str) -> Option<String> {
    if let Some(identifier) = map_gnu(name) {
        return Some(identifier);
    }
    let debian = match name.to_ascii_lowercase().as_str() {
        "expat" => Some("MIT"),
        "artistic" | "artistic-1" => Some("Artistic-1.0-Perl"),
        "apache-2" => Some("Apache-2.0"),
        "cc0" => Some("CC0-1.0"),
        "bsl" => Some("BSL-1.0"),
        _ => None,
    };
    if let Some(identifier) = debian {
        return Some(identifier.to_owned());
    }
    let (base, plus) = match name.strip_suffix('+') {
        Some(base) => (base, "+"),
        None => (name, ""),
    };
    spdx::identifiers::LICENSES
        .iter()
        .find(|license| license.name.eq_ignore_ascii_case(base))
        .map(|license| format!("{}{plus}", license.name))
}

/// The GNU licenses: family, optional `v`, optional `-VERSION`, optional `+`.
fn map_gnu(name: &str) -> Option<String> {
    let (rest, or_later) = match name.strip_suffix('+') {
        Some(rest) => (rest, true),
        None => (name, false),
    };
    let upper = rest.to_ascii_uppercase();
    let (family, version) = ["GFDL-NIV", "AGPL", "LGPL", "GFDL", "GPL"]
        .iter()
        .find_map(|family| upper.strip_prefix(family).map(|rest| (*family, rest)))?;
    let version = version.trim_start_matches(['-', 'V']);
    let version = match version {
        "" => {
            return match family {
                "GPL" => Some("GPL-1.0-or-later".to_owned()),
                "LGPL" => Some("LGPL-2.0-or-later".to_owned()),
                _ => None,
            }
        }
        "1" | "2" | "3" => format!("{version}.0"),
        other if other.len() == 3 && other.as_bytes()[1] == b'.' => other.to_owned(),
        _ => return None,
    };
    let base = match family {
        "GFDL-NIV" => format!("GFDL-{version}-no-invariants"),
        _ => format!("{family}-{version}"),
    };
    spdx::gnu_license_id(&base, or_later).map(|license| license.name.to_owned())
}

/// An exception name (`Autoconf`, `OpenSSL`) to an SPDX exception identifier.
fn map_exception(base: &str, exception: &str) -> Option<String> {
    let gpl3 = base.contains('3');
    let known = match exception.to_ascii_lowercase().as_str() {
        "autoconf" if gpl3 => Some("Autoconf-exception-3.0"),
        "autoconf" => Some("Autoconf-exception-2.0"),
        "bison" => Some("Bison-exception-2.2"),
        "classpath" => Some("Classpath-exception-2.0"),
        "gcc" | "gcc-3.1" => Some("GCC-exception-3.1"),
        "font" => Some("Font-exception-2.0"),
        "libtool" => Some("Libtool-exception"),
        "llvm" => Some("LLVM-exception"),
        _ => None,
    };
    if let Some(identifier) = known {
        return Some(identifier.to_owned());
    }
    let suffixed = format!("{exception}-exception");
    spdx::identifiers::EXCEPTIONS
        .iter()
        .find(|candidate| {
            candidate.name.eq_ignore_ascii_case(exception)
                || candidate.name.eq_ignore_ascii_case(&suffixed)
        })
        .map(|candidate| candidate.name.to_owned())
}

/// `LicenseRef-` and `name` with every character outside `[A-Za-z0-9.-]` as `-`.
pub(crate) fn reference_id(name: &str) -> String {
    let sanitized: String = name
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '.' || character == '-' {
                character
            } else {
                '-'
            }
        })
        .collect();
    format!("LicenseRef-{sanitized}")
}

/// The text of the stand-alone `License:` paragraph (one without `Files:`) named `name`.
fn stand_alone_text(document: &deb822::Document, name: &str) -> Option<String> {
    document
        .paragraphs
        .iter()
        .filter(|paragraph| paragraph.get("Files").is_none())
        .filter(|paragraph| {
            paragraph
                .first_line("License")
                .is_some_and(|first| first.eq_ignore_ascii_case(name))
        })
        .find_map(|paragraph| paragraph.get("License").and_then(license_text))
}

/// The continuation lines of a `License:` value, a lone `.` read as an empty line; `None`
/// when there are none.
fn license_text(value: &str) -> Option<String> {
    let lines: Vec<&str> = value
        .lines()
        .skip(1)
        .map(|line| if line.trim() == "." { "" } else { line })
        .collect();
    let text = lines.join("\n");
    let text = text.trim_matches('\n');
    (!text.trim().is_empty()).then(|| text.to_owned())
}
